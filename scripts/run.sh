#!/usr/bin/env bash
# Runs the Worker locally on http://localhost:8787 with `wrangler dev` (workerd + local KV).
# With WEBEX_CLIENT_ID and WEBEX_CLIENT_SECRET in .dev.vars it signs in with Webex itself;
# without them it starts a local OpenID Provider shaped like Webex on 127.0.0.1:9400 and
# points the Worker at it, so the whole login can be clicked through at once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
export WRANGLER_SEND_METRICS=false

WORKER_PORT=${PORT:-8787}
PROVIDER_PORT=${PROVIDER_PORT:-9400}
wrangler=(node node_modules/wrangler/bin/wrangler.js dev --port "$WORKER_PORT")

has_setting() { [ -f .dev.vars ] && grep -qE "^[[:space:]]*$1[[:space:]]*=[[:space:]]*[^[:space:]]" .dev.vars; }

if has_setting WEBEX_CLIENT_ID && has_setting WEBEX_CLIENT_SECRET; then
  echo "run: using the Webex integration configured in .dev.vars"
  exec "${wrangler[@]}"
fi

echo "run: no Webex credentials in .dev.vars; starting the local provider on 127.0.0.1:$PROVIDER_PORT"
provider="http://127.0.0.1:$PROVIDER_PORT"
PROVIDER_PORT=$PROVIDER_PORT \
PROVIDER_CLIENT_ID=local-dev-client \
PROVIDER_CLIENT_SECRET=local-dev-secret \
PROVIDER_REDIRECT_URIS="http://localhost:$WORKER_PORT/oauth,http://127.0.0.1:$WORKER_PORT/oauth" \
  node tests/provider/provider.mjs &
provider_pid=$!
trap 'kill "$provider_pid" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 50); do
  curl -fsS "$provider/v1/verification" >/dev/null 2>&1 && break
  sleep 0.2
done
echo "run: sign in as any user name and password at the local provider"

"${wrangler[@]}" \
  --var WEBEX_CLIENT_ID:local-dev-client \
  --var WEBEX_CLIENT_SECRET:local-dev-secret \
  --var "WEBEX_AUTHORIZE_URL:$provider/v1/authorize" \
  --var "WEBEX_TOKEN_URL:$provider/v1/access_token" \
  --var "WEBEX_USERINFO_URL:$provider/v1/userinfo" \
  --var "WEBEX_JWKS_URL:$provider/v1/verification" \
  --var "WEBEX_ISSUERS:$provider/idb"
