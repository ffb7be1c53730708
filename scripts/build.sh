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
worker-build --release --out-dir "$out" "${features[@]}"
node scripts/strip-wasm-names.mjs "$out/index_bg.wasm"
touch "$stamp"
