#!/usr/bin/env bash
# Benchmarks the release Worker under `wrangler dev` (workerd, local KV) against the local
# OpenID Provider and a floor Worker: logins and page views per second, latency, workerd CPU,
# KV and subrequests per operation, sizes, with budgets. Options: see tests/bench/bench.mjs
# (--duration SECONDS, --concurrency N, --smoke, --json FILE, --strict).
# `scripts/bench.sh --gateway [options]` runs the gateway benchmark instead (tests/bench/gateway.mjs):
# forwarded requests next to a pass-through Worker and direct calls to the upstream.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WRANGLER_SEND_METRICS=false
if [ "${1:-}" = "--gateway" ]; then
  shift
  bash scripts/build.sh --gateway
  exec node tests/bench/gateway.mjs "$@"
fi
bash scripts/build.sh
exec node tests/bench/bench.mjs "$@"
