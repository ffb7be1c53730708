#!/usr/bin/env bash
# Release build of the Worker into build/ (wrangler's [build] command). Offline-friendly:
# worker-build would download wasm-bindgen, wasm-opt and esbuild; these point it at the
# copies scripts/setup.sh installed. Does nothing when build/ is newer than the sources.
# `--gateway` builds with gateway mode into build-gateway/ instead (see the README's
# "Protect a site").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

out=build
features=()
if [ "${1:-}" = "--gateway" ]; then
  out=build-gateway
  features=(--features gateway)
fi
stamp=$out/.built
if [ -f "$stamp" ] && [ -f "$out/index.js" ] \
  && [ -z "$(find src Cargo.toml Cargo.lock scripts/build.sh scripts/strip-wasm-names.mjs -newer "$stamp" -print -quit)" ]; then
  echo "build: up to date"
  exit 0
fi

WASM_BINDGEN_BIN="$(command -v wasm-bindgen)" || { echo "build: run scripts/setup.sh first"; exit 1; }
export WASM_BINDGEN_BIN
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
# Panic locations name source files: keep them relative (crate/src/file.rs), so the module
# carries no path of the machine that built it (and a few KB less).
remap=(--remap-path-prefix="$PWD/=")
for index in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
  remap+=(--remap-path-prefix="$index=")
done
rustc_commit="$(rustc -vV | sed -n 's/^commit-hash: //p')"
[ -n "$rustc_commit" ] && remap+=(--remap-path-prefix="/rustc/$rustc_commit/=")
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="${remap[*]}"
worker-build --release --out-dir "$out" "${features[@]}"
node scripts/strip-wasm-names.mjs "$out/index_bg.wasm"
touch "$stamp"
