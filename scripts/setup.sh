#!/usr/bin/env bash
# Installs what building and testing need, each step skipped when already in place:
# the wasm32 target, worker-build, the wasm-bindgen CLI matching Cargo.lock, cargo-mutants,
# npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
say() { printf 'setup: %s\n' "$*"; }

command -v cargo >/dev/null || { say "cargo not found: install Rust with rustup (https://rustup.rs)"; exit 1; }
command -v npm >/dev/null || { say "npm not found: install Node.js 20 or newer"; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

bindgen_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $NF}')" != "$bindgen_version" ]; then
  say "installing wasm-bindgen-cli $bindgen_version (a few minutes, once)"
  # --locked can name a dependency version the registry no longer serves; fall back to
  # resolving afresh, which still builds exactly this wasm-bindgen version.
  cargo install wasm-bindgen-cli --version "$bindgen_version" --locked \
    || cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

# Mutation testing of the security core (scripts/mutants.sh); pinned like the other tools.
MUTANTS_VERSION=25.3.1
if [ "$(cargo-mutants --version 2>/dev/null | awk '{print $NF}')" != "$MUTANTS_VERSION" ] \
  && [ "$(cargo mutants --version 2>/dev/null | awk '{print $NF}')" != "$MUTANTS_VERSION" ]; then
  say "installing cargo-mutants $MUTANTS_VERSION (a few minutes, once)"
  cargo install cargo-mutants --version "$MUTANTS_VERSION" --locked
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund
fi
