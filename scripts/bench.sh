#!/usr/bin/env bash
# Benchmarks the release Worker under `wrangler dev` (workerd, local KV) side by side with two
# reference Workers, bench-peer (the same login flow in JavaScript) and bench-floor-io (the
# same I/O and nothing else), against one local OpenID Provider: CPU per login and per page
# view and their ratios, with budgets, latency, KV and subrequests per operation, sizes, then
# cold starts. Options: see tests/bench/bench.mjs (--logins N, --views N, --concurrency N,
# --runs N (default 3), --blocks N (default 10), --warmup N, --cold N (default 10), --smoke,
# --json FILE, --strict).
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
