#!/usr/bin/env bash
# Runs the Worker locally on http://localhost:8787 with `wrangler dev` (workerd + local KV).
# With WEBEX_CLIENT_ID and WEBEX_CLIENT_SECRET in .dev.vars it signs in with Webex itself;
# without them it starts a local OpenID Provider shaped like Webex on 127.0.0.1:9400 and
# points the Worker at it, so the whole login can be clicked through at once.
#
# `scripts/run.sh --gateway` (or GATEWAY=1) runs gateway mode instead: a demo origin on
# 127.0.0.1:9600 (tests/gateway/origin.mjs) sits behind the Worker, every page of
# http://localhost:8787 asks to sign in first, and the origin shows the identity it received
# and verifies the Webex-Assertion. The assertion's signing key is generated once into
# .dev.gateway-key.json (never committed); the demo admits example.com addresses.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WRANGLER_SEND_METRICS=false

WORKER_PORT=${PORT:-8787}
PROVIDER_PORT=${PROVIDER_PORT:-9400}
ORIGIN_PORT=${ORIGIN_PORT:-9600}
wrangler=(node node_modules/wrangler/bin/wrangler.js dev --port "$WORKER_PORT")
[ "${1:-}" = "--gateway" ] && GATEWAY=1
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT INT TERM
callback_path=/oauth
has_setting() { [ -f .dev.vars ] && grep -qE "^[[:space:]]*$1[[:space:]]*=[[:space:]]*[^[:space:]]" .dev.vars; }

if [ "${GATEWAY:-}" = 1 ]; then
  callback_path=/_auth/oauth
  if [ ! -f .dev.gateway-key.json ]; then
    # A private key: readable by this user only.
    (umask 077 && node --input-type=module -e '
      import { generateKeyPair, exportJWK } from "jose";
      const { privateKey } = await generateKeyPair("ES256", { extractable: true });
      const { kty, crv, x, y, d } = await exportJWK(privateKey);
      console.log(JSON.stringify({ kty, crv, x, y, d }));' > .dev.gateway-key.json)
    echo "run: generated the assertion signing key in .dev.gateway-key.json"
  fi
  chmod 600 .dev.gateway-key.json
  GATEWAY_ORIGIN="http://localhost:$WORKER_PORT" ORIGIN_PORT=$ORIGIN_PORT node tests/gateway/origin.mjs &
  pids+=($!)
  wrangler+=(--config wrangler.gateway.toml
             --var "UPSTREAM_URL:http://127.0.0.1:$ORIGIN_PORT"
             --var "ASSERTION_SIGNING_KEY:$(cat .dev.gateway-key.json)")
  if ! has_setting ALLOWED_EMAILS && ! has_setting ALLOWED_EMAIL_DOMAINS && ! has_setting ALLOWED_WEBEX_ORGS \
     && ! has_setting ALLOW_ANY_WEBEX_USER; then
    wrangler+=(--var "ALLOWED_EMAIL_DOMAINS:example.com")
  fi
  echo "run: gateway mode: http://localhost:$WORKER_PORT/ is the demo origin behind sign-in"
fi
# (wrangler builds through scripts/build.sh, or build.sh --gateway, itself)


if has_setting WEBEX_CLIENT_ID && has_setting WEBEX_CLIENT_SECRET; then
  echo "run: using the Webex integration configured in .dev.vars"
  "${wrangler[@]}"
  exit
fi

echo "run: no Webex credentials in .dev.vars; starting the local provider on 127.0.0.1:$PROVIDER_PORT"
provider="http://127.0.0.1:$PROVIDER_PORT"
PROVIDER_PORT=$PROVIDER_PORT \
PROVIDER_CLIENT_ID=local-dev-client \
PROVIDER_CLIENT_SECRET=local-dev-secret \
PROVIDER_REDIRECT_URIS="http://localhost:$WORKER_PORT$callback_path,http://127.0.0.1:$WORKER_PORT$callback_path" \
  node tests/provider/provider.mjs &
pids+=($!)

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
  --var "WEBEX_PEOPLE_URL:$provider/v1/people/me" \
  --var "WEBEX_ISSUERS:$provider/idb"
