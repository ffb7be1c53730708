// A local OpenID Provider shaped like Webex ("Login with Webex"), for tests and local development.
//
// Built on oidc-provider 9. Webex-shaped on purpose:
//   - endpoints at /v1/authorize, /v1/access_token, /v1/userinfo, /v1/verification (JWKS);
//   - issuer with an /idb path (like https://idbroker.webex.com/idb);
//   - RS256 ID tokens carrying only iss/sub/aud/exp/iat/auth_time/nonce (+ email, email_verified
//     with the email scope); profile claims only from userinfo;
//   - email_verified is boolean true in the ID token but the STRING "true" in userinfo;
//   - refresh tokens issued without offline_access; lifetimes as in Webex's examples.
//
// Use from tests:   const op = await startProvider({ port, clientId, clientSecret, redirectUris });
// Or stand-alone:   node tests/provider/provider.mjs   (env PROVIDER_PORT, PROVIDER_CLIENT_ID,
//                   PROVIDER_CLIENT_SECRET, PROVIDER_REDIRECT_URIS, PROVIDER_ISSUER)
//
// The login form is oidc-provider's built-in devInteractions form: any login/password is
// accepted and always signs in the single demo user below. Consent is skipped.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { pathToFileURL } from 'node:url';

import Provider from 'oidc-provider';

export const DEMO_USER = Object.freeze({
  sub: '3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
  email: 'demo.user@example.com',
  name: 'Demo User',
  given_name: 'Demo',
  family_name: 'User',
  locale: 'en_US',
});

// spark:people_read: Webex's people API (GET /v1/people/me, which carries the orgId).
const SCOPES = ['openid', 'email', 'profile', 'spark:people_read'];

/** The demo user's Webex organisation, as GET /v1/people/me reports it (setOrgId changes it). */
export const DEMO_ORG_ID = 'Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9kZW1v';
const PEOPLE_ME = '/v1/people/me';

const CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'locale'],
};

// Claims Webex puts into the ID token (when the matching scope was granted). Everything
// else (the profile claims) is available from userinfo only.
const ID_TOKEN_CLAIMS = new Set(['sub', 'email', 'email_verified']);

const PATHS = {
  authorization: '/v1/authorize',
  token: '/v1/access_token',
  userinfo: '/v1/userinfo',
  jwks: '/v1/verification',
};

// Faults that can be switched on with setFault(name). Each one replaces (or mangles) the
// answer of one endpoint. Bodies follow what Webex's REST endpoints return.
const FAULTS = {
  // token endpoint answers 500 with a Webex-style JSON error body
  token_500: { path: PATHS.token, method: 'POST', status: 500, json: { message: 'boom', trackingId: 'x' } },
  // token endpoint answers with an RFC 6749 error
  token_invalid_grant: {
    path: PATHS.token,
    method: 'POST',
    status: 400,
    json: { error: 'invalid_grant', error_description: 'code expired' },
  },
  // token endpoint answers 401 with Webex's {message, errors[], trackingId} shape
  token_webex_401: {
    path: PATHS.token,
    method: 'POST',
    status: 401,
    json: {
      message: 'The request requires a valid access token set in the Authorization request header.',
      errors: [{ description: 'The request requires a valid access token set in the Authorization request header.' }],
      trackingId: 'x',
    },
  },
  // token endpoint answers with a non-JSON body (as a gateway would)
  token_html_502: { path: PATHS.token, method: 'POST', status: 502, html: '<html><body>Bad Gateway</body></html>' },
  // token endpoint works but the ID token signature is corrupted
  id_token_bad_signature: { path: PATHS.token, method: 'POST', mangle: 'id_token_signature' },
  // userinfo failures
  userinfo_500: { path: PATHS.userinfo, status: 500, json: { message: 'boom', trackingId: 'x' } },
  userinfo_401: { path: PATHS.userinfo, status: 401, json: { message: 'invalid token', trackingId: 'x' } },
  // JWKS failure
  jwks_500: { path: PATHS.jwks, status: 500, json: { message: 'boom', trackingId: 'x' } },
};

export const FAULT_NAMES = Object.freeze(Object.keys(FAULTS));

function statKey(path) {
  if (path === PATHS.token) return 'token';
  if (path === PATHS.userinfo) return 'userinfo';
  if (path === PATHS.jwks) return 'jwks';
  if (path === PATHS.authorization || path.startsWith(`${PATHS.authorization}/`)) return 'authorize';
  if (path.startsWith('/interaction/')) return 'interaction';
  if (path === '/.well-known/openid-configuration') return 'discovery';
  return 'other';
}

function corruptSignature(jwt) {
  const parts = String(jwt).split('.');
  if (parts.length !== 3 || parts[2].length === 0) return jwt;
  const sig = parts[2];
  const first = sig[0] === 'A' ? 'B' : 'A';
  parts[2] = first + sig.slice(1);
  return parts.join('.');
}

function grantScopes(ctx) {
  const requested = String(ctx.oidc.params?.scope || '').split(' ').filter(Boolean);
  return requested.filter((s) => SCOPES.includes(s));
}

// oidc-provider's devInteractions use whatever login name was typed as the account id.
// Webex has one identity per login, and our tests want one fixed user: map every login
// to the demo user's sub.
class WebexLikeProvider extends Provider {
  async interactionResult(req, res, result, options) {
    let patched = result;
    if (result && typeof result === 'object' && result.login) {
      patched = { ...result, login: { ...result.login, accountId: DEMO_USER.sub } };
    }
    return super.interactionResult(req, res, patched, options);
  }
}

/**
 * Start a Webex-shaped OpenID Provider on 127.0.0.1.
 *
 * @param {object} options
 * @param {number} [options.port=0] TCP port (0 = pick a free one)
 * @param {string} [options.clientId='local-dev-client']
 * @param {string} [options.clientSecret='local-dev-secret']
 * @param {string[]} [options.redirectUris=['http://localhost:8787/oauth']]
 * @param {string} [options.issuer] defaults to http://127.0.0.1:PORT/idb
 * @param {number} [options.accessTokenTtl=1209600] access token lifetime in seconds (Webex: 14 days);
 *   also changeable later with setAccessTokenTtl()
 * @param {boolean} [options.rotateRefreshToken] true: every refresh grant consumes the refresh
 *   token and issues a new one; false: never rotate; unset: oidc-provider's default rule (for
 *   this confidential client: only in the last 30% of the refresh token's lifetime). Also
 *   changeable later with setRotateRefreshToken()
 * @returns {Promise<{url: string, issuer: string, close: () => Promise<void>,
 *   setFault: (name: string|null) => void, stats: object, issued: object, provider: Provider,
 *   setAccessTokenTtl: (seconds: number|null) => void,
 *   setRotateRefreshToken: (rotate: boolean|null|undefined) => void}>}
 */
export async function startProvider({
  port = 0,
  clientId = 'local-dev-client',
  clientSecret = 'local-dev-secret',
  redirectUris = ['http://localhost:8787/oauth'],
  issuer,
  accessTokenTtl = null,
  rotateRefreshToken = undefined,
} = {}) {
  // Listen first so that port 0 works (the issuer contains the port).
  let handler = (_req, res) => {
    res.statusCode = 503;
    res.end('starting');
  };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  const url = `http://127.0.0.1:${actualPort}`;
  const issuerValue = issuer || `${url}/idb`;

  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = {
    ...privateKey.export({ format: 'jwk' }),
    kid: crypto.randomBytes(8).toString('hex'),
    use: 'sig',
    alg: 'RS256',
  };

  const stats = {
    authorize: 0,
    interaction: 0,
    token: 0,
    userinfo: 0,
    jwks: 0,
    discovery: 0,
    other: 0,
    faults: 0,
    // token endpoint requests with grant_type=refresh_token, and how many of them succeeded
    refreshGrants: 0,
    refreshGrantsOk: 0,
    // shape of the most recent token request, without any secret values
    lastTokenRequest: null,
  };
  let fault = null;
  // Settable at run time (setAccessTokenTtl / setRotateRefreshToken), read on every issue.
  const DEFAULT_ACCESS_TOKEN_TTL = 1209600;
  let accessTokenTtlSecs = accessTokenTtl ?? DEFAULT_ACCESS_TOKEN_TTL;
  let rotate = rotateRefreshToken ?? null;
  // Every credential the provider handed out, so tests can check that none of them leaks
  // (into logs, pages, cookies). Kept in memory for the provider's lifetime.
  const issued = { codes: [], accessTokens: [], refreshTokens: [], idTokens: [] };
  // Milliseconds each endpoint (by stat key: 'token', 'userinfo', ...) waits before answering.
  const delays = {};
  const remember = (list, value) => {
    if (typeof value === 'string' && value && !list.includes(value)) list.push(value);
  };

  const provider = new WebexLikeProvider(issuerValue, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      // Webex accepts both; oidc-provider accepts client_secret_post credentials for a
      // client registered with client_secret_basic too (and vice versa).
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
      // Webex ID tokens carry auth_time
      require_auth_time: true,
    }],
    jwks: { keys: [jwk] },
    routes: PATHS,
    scopes: SCOPES,
    claims: CLAIMS,
    // With the default (true) and a code flow, oidc-provider puts only `sub` into the ID
    // token, but Webex also puts email/email_verified there. Turned off, and the per-use
    // shaping in claims() below keeps the profile claims out of the ID token instead.
    conformIdTokenClaims: false,
    cookies: {
      keys: [crypto.randomBytes(32).toString('base64url'), crypto.randomBytes(32).toString('base64url')],
    },
    features: {
      devInteractions: { enabled: true },
      userinfo: { enabled: true },
      // Webex has no RFC 7009 revocation and no end_session_endpoint.
      revocation: { enabled: false },
      rpInitiatedLogout: { enabled: false },
    },
    // PKCE: oidc-provider supports S256 only, and checks code_verifier at the token endpoint
    // whenever the authorization request carried a code_challenge. Like Webex, it is not
    // mandatory for this confidential client (the default pkce.required).
    ttl: {
      IdToken: 7200,
      AccessToken: () => accessTokenTtlSecs,
      RefreshToken: 7776000,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    // Rotation: oidc-provider's default rule unless a test asked for always/never.
    rotateRefreshToken(ctx) {
      if (rotate !== null) return rotate;
      const { RefreshToken: refreshToken, Client: client } = ctx.oidc.entities;
      if (refreshToken.totalLifetime() >= 365.25 * 24 * 60 * 60) return false;
      if (client.clientAuthMethod === 'none' && !refreshToken.isSenderConstrained()) return true;
      return refreshToken.ttlPercentagePassed() >= 70;
    },
    // Webex returns a refresh token without the offline_access scope.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Skip the consent prompt: the (first-party) client gets every scope/claim it asks for.
    async loadExistingGrant(ctx) {
      const { provider: op } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      let grant;
      if (grantId) {
        grant = await op.Grant.find(grantId);
      }
      if (!grant) {
        grant = new op.Grant({
          clientId: ctx.oidc.client.clientId,
          accountId: ctx.oidc.session.accountId,
        });
      }
      const scopes = grantScopes(ctx);
      if (scopes.length) grant.addOIDCScope(scopes.join(' '));
      const claims = [...(ctx.oidc.requestParamClaims || [])];
      if (claims.length) grant.addOIDCClaims(claims);
      await grant.save();
      return grant;
    },
    async findAccount(_ctx, id) {
      if (!id) return undefined;
      return {
        accountId: DEMO_USER.sub,
        async claims(use) {
          if (use === 'id_token') {
            const all = { sub: DEMO_USER.sub, email: DEMO_USER.email, email_verified: true };
            return Object.fromEntries(Object.entries(all).filter(([k]) => ID_TOKEN_CLAIMS.has(k)));
          }
          // userinfo: Webex returns email_verified as the string "true"
          return {
            sub: DEMO_USER.sub,
            email: DEMO_USER.email,
            email_verified: 'true',
            name: DEMO_USER.name,
            given_name: DEMO_USER.given_name,
            family_name: DEMO_USER.family_name,
            locale: DEMO_USER.locale,
          };
        },
      };
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      ctx.body = `<!DOCTYPE html><html><head><title>oops! something went wrong</title></head><body>
<h1>oops! something went wrong</h1>
${Object.entries(out).map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('\n')}
</body></html>`;
    },
  });

  // Plain http on 127.0.0.1: do not trust X-Forwarded-* headers.
  provider.proxy = false;

  // Request counting and fault injection, in front of all provider routes.
  provider.use(async (ctx, next) => {
    const key = statKey(ctx.path);
    stats[key] += 1;
    if (delays[key]) await new Promise((resolve) => { setTimeout(resolve, delays[key]); });

    if (key === 'token' && ctx.method === 'POST') {
      const auth = ctx.get('authorization');
      stats.lastTokenRequest = {
        clientAuth: auth.toLowerCase().startsWith('basic ') ? 'basic' : 'none',
        contentType: ctx.get('content-type'),
      };
    }

    const f = fault ? FAULTS[fault] : null;
    if (f && ctx.path === f.path && (!f.method || ctx.method === f.method)) {
      stats.faults += 1;
      if (f.mangle === 'id_token_signature') {
        await next();
        if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && ctx.body.id_token) {
          remember(issued.accessTokens, ctx.body.access_token);
          remember(issued.refreshTokens, ctx.body.refresh_token);
          ctx.body = { ...ctx.body, id_token: corruptSignature(ctx.body.id_token) };
          remember(issued.idTokens, ctx.body.id_token);
        }
        return;
      }
      ctx.status = f.status;
      ctx.set('Cache-Control', 'no-store');
      if (f.json) {
        ctx.type = 'application/json';
        ctx.body = JSON.stringify(f.json);
      } else {
        ctx.type = 'text/html';
        ctx.body = f.html;
      }
      return;
    }
    await next();

    if (key === 'token' && ctx.method === 'POST' && ctx.oidc?.params?.grant_type === 'refresh_token') {
      stats.refreshGrants += 1;
      if (ctx.status === 200) stats.refreshGrantsOk += 1;
    }

    // record what was issued
    const location = ctx.response.get('location');
    if (location && location.includes('code=')) {
      try {
        remember(issued.codes, new URL(location, url).searchParams.get('code'));
      } catch { /* not a URL */ }
    }
    if (key === 'token' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      remember(issued.accessTokens, ctx.body.access_token);
      remember(issued.refreshTokens, ctx.body.refresh_token);
      remember(issued.idTokens, ctx.body.id_token);
    }
  });

  const callback = provider.callback();
  let orgId = DEMO_ORG_ID;
  // Webex's people API, which oidc-provider does not have: the access token must be one this
  // provider issued, with spark:people_read (403 otherwise, as Webex answers).
  const peopleMe = async (req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization || '')?.[1];
    const found = token ? await provider.AccessToken.find(token).catch(() => undefined) : undefined;
    res.setHeader('content-type', 'application/json');
    if (!found || found.isExpired) {
      res.statusCode = 401;
      res.end(JSON.stringify({ message: 'The request requires a valid access token', trackingId: 'local' }));
      return;
    }
    if (!String(found.scope || '').split(' ').includes('spark:people_read')) {
      res.statusCode = 403;
      res.end(JSON.stringify({ message: 'missing scope spark:people_read', trackingId: 'local' }));
      return;
    }
    res.end(JSON.stringify({ id: found.accountId, emails: [DEMO_USER.email], displayName: DEMO_USER.name, orgId }));
  };
  handler = (req, res) => {
    if (req.method === 'GET' && req.url === PEOPLE_ME) {
      peopleMe(req, res).catch(() => { res.statusCode = 500; res.end(); });
      return;
    }
    callback(req, res);
  };

  let closed = false;
  return {
    url,
    issuer: issuerValue,
    provider,
    clientId,
    stats,
    issued,
    setFault(name) {
      if (name !== null && name !== undefined && !Object.hasOwn(FAULTS, name)) {
        throw new Error(`unknown fault ${name}; known: ${FAULT_NAMES.join(', ')}`);
      }
      fault = name ?? null;
    },
    /** Lifetime (seconds) of access tokens issued from now on; null restores the default. */
    setAccessTokenTtl(seconds) {
      if (seconds !== null && !(Number.isInteger(seconds) && seconds > 0)) {
        throw new Error(`access token TTL must be a positive integer, got ${seconds}`);
      }
      accessTokenTtlSecs = seconds ?? DEFAULT_ACCESS_TOKEN_TTL;
    },
    /** Answer requests to `endpoint` ('token', 'userinfo', 'jwks', ...) `ms` later; 0 or null: at once. */
    setDelay(endpoint, ms) {
      delays[endpoint] = ms ?? 0;
    },
    /** The organisation GET /v1/people/me reports from now on. */
    setOrgId(value) {
      orgId = value;
    },
    /** true: rotate on every refresh grant; false: never; null/undefined: the default rule. */
    setRotateRefreshToken(value) {
      rotate = value ?? null;
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// Stand-alone mode.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = process.env;
  const port = Number.parseInt(env.PROVIDER_PORT || '9400', 10);
  const op = await startProvider({
    port,
    clientId: env.PROVIDER_CLIENT_ID || 'local-dev-client',
    clientSecret: env.PROVIDER_CLIENT_SECRET || 'local-dev-secret',
    redirectUris: (env.PROVIDER_REDIRECT_URIS || 'http://localhost:8787/oauth')
      .split(',').map((s) => s.trim()).filter(Boolean),
    issuer: env.PROVIDER_ISSUER || undefined,
  });
  console.log(`provider ready on ${op.url} issuer=${op.issuer}`);
  const shutdown = async () => {
    await op.close();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
