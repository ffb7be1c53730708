#!/usr/bin/env bash
# Runs every test: formatting and lints, native unit tests, the upload size budget, then the
# release Worker in `wrangler dev` against a local OpenID Provider, over HTTP and in headless
# Chromium, a short benchmark run and a two-minute soak. UPLOAD_BUDGET_KB overrides the gzip
# upload budget; SOAK_SECONDS and SOAK_CLIENTS the soak.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt, clippy"
cargo fmt --all -- --check
# Both builds: the default (standalone) one and the one with gateway mode.
for features in "" "--features gateway"; do
  # shellcheck disable=SC2086
  cargo clippy --all-targets --quiet $features -- -D warnings
  # shellcheck disable=SC2086
  cargo clippy --target wasm32-unknown-unknown --quiet $features -- -D warnings
done

echo "== unit tests (native, without and with gateway mode)"
cargo test --quiet
cargo test --quiet --features gateway

echo "== release builds"
bash scripts/build.sh
bash scripts/build.sh --gateway

echo "== upload size budgets"
node scripts/upload-size.mjs --max-gzip-kb "${UPLOAD_BUDGET_KB:-350}"
node scripts/upload-size.mjs --max-gzip-kb "${GATEWAY_UPLOAD_BUDGET_KB:-350}" --config tests/e2e/wrangler.gateway.toml

if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian's chromium for the browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "test: the browser test needs chromium (sudo apt-get install chromium)" >&2
    exit 1
  fi
fi

echo "== end-to-end (wrangler dev + local OpenID Provider) and browser tests"
export WRANGLER_SEND_METRICS=false
node --test --test-concurrency=1 tests/e2e/*.test.mjs tests/browser/*.test.mjs

echo "== benchmark smoke runs"
node tests/bench/bench.mjs --smoke
node tests/bench/gateway.mjs --smoke

echo "== soak: ${SOAK_CLIENTS:-20} clients for ${SOAK_SECONDS:-120} s of mixed logins, views, refreshes and logouts"
node --test tests/bench/soak.mjs
