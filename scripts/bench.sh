#!/usr/bin/env bash
# Benchmarks the release Worker under `wrangler dev` (workerd, local KV) against the local
# OpenID Provider and a floor Worker: logins and page views per second, latency, workerd CPU,
# KV and subrequests per operation, sizes, with budgets. Options: see tests/bench/bench.mjs
# (--duration SECONDS, --concurrency N, --smoke, --json FILE, --strict).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
export WRANGLER_SEND_METRICS=false
exec node tests/bench/bench.mjs "$@"
