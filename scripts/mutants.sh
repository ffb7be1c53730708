#!/usr/bin/env bash
# Mutation testing of the security core: ID token verification, the callback, cookies,
# session sealing and lookup, the strict JSON reading and the settings' URL checks. Each
# mutant is a small change to the code (a condition flipped, a function returning a default);
# a mutant the native tests do not catch is a gap in them.
# A few hundred mutants at roughly half a minute each on 2 cores: hours, so not part of CI.
#   scripts/mutants.sh                     # every file below
#   scripts/mutants.sh src/cookies.rs      # only the files given
# Results land in mutants.out/ (caught.txt, missed.txt, unviable.txt, timeout.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(src/oidc/id_token/mod.rs src/oidc/id_token/checks.rs src/oidc/authorization_response.rs
         src/routes/callback.rs src/cookies.rs src/pending_login.rs src/seal.rs
         src/session/record.rs src/session/ticket.rs src/oidc/json.rs src/oidc/http_url.rs
         src/app/session.rs)
fi
args=()
for f in "${files[@]}"; do args+=(--file "$f"); done
# MUTANTS_ARGS adds options, e.g. --in-place (mutate this tree and reuse its build: much
# faster, but leave the sources alone while it runs).
# shellcheck disable=SC2086
cargo mutants --no-shuffle --timeout 60 ${MUTANTS_ARGS:-} "${args[@]}"
