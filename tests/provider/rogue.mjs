// A small, hand-written OpenID Provider shaped like Webex that can be told to misbehave.
//
// Plain node:http + node:crypto (no oidc-provider), so every byte of every answer is under
// the test's control: ID tokens are compact JWS built by hand, which makes it possible to
// produce broken ones (wrong claims, tampered signatures, `alg: none`, HS256 keyed with the
// RSA public key, unknown `kid`s) as well as good ones.
//
//   const op = await startRogueProvider({ port, clientId, clientSecret, redirectUri });
//   op.setCase('id_token_aud_wrong');   // the next logins get an ID token for someone else
//   ...
//   op.setCase('normal');
//   await op.close();
//
// Endpoints (Webex's paths): GET /v1/authorize (no login form: redirects straight back with a
// code), POST /v1/access_token, GET /v1/userinfo, GET /v1/verification (JWKS). Issuer:
// http://127.0.0.1:PORT/idb.
//
// By default ID tokens are RS256 without a `kid` (as Webex sends them) and carry
// iss sub aud exp iat auth_time nonce email email_verified(true); userinfo returns
// sub name given_name family_name email email_verified("true", a string) locale.
//
// Key state is sticky, not per case: rotateKey() and the cases marked "sticky" below change
// which key signs and which keys the JWKS publishes, and that stays so after
// setCase('normal') (an RP caches keys, so flipping back would break the next login).

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as zlib from 'node:zlib';

export const ROGUE_USER = Object.freeze({
  sub: '7c0d7e2a-3b4c-4d5e-8f90-a1b2c3d4e5f6',
  email: 'rogue.user@example.com',
  name: 'Rogue User',
  given_name: 'Rogue',
  family_name: 'User',
  locale: 'en_US',
});

/** Unicode and markup, for the "hostile claims" case. */
export const HOSTILE_TEXT = '<script>alert(1)</script> Zoë 🚀 "\'&';

const PATHS = {
  authorize: '/v1/authorize',
  token: '/v1/access_token',
  userinfo: '/v1/userinfo',
  jwks: '/v1/verification',
};

const b64u = (data) => Buffer.from(data).toString('base64url');
const random = (bytes = 24) => crypto.randomBytes(bytes).toString('base64url');
const nowSecs = () => Math.floor(Date.now() / 1000);

/** An RSA key pair with its public JWK. */
function makeRsaKey({ kid = `k-${random(6)}`, use = 'sig', bits = 2048 } = {}) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: bits });
  const { n, e } = publicKey.export({ format: 'jwk' });
  const jwk = { kty: 'RSA', n, e, alg: 'RS256', use };
  if (kid) jwk.kid = kid;
  return { kid, privateKey, publicKey, jwk };
}

function makeEcJwk() {
  const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid: `ec-${random(4)}`, use: 'sig', alg: 'ES256' };
}

/** Compact JWS. `signer(input: Buffer) -> Buffer`; null signer gives an empty signature. */
function compactJws(header, payload, signer) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  const sig = signer ? signer(Buffer.from(input, 'ascii')) : Buffer.alloc(0);
  return `${input}.${b64u(sig)}`;
}

const rs256 = (privateKey) => (input) => crypto.sign('sha256', input, privateKey); // PKCS#1 v1.5
const hs256 = (secret) => (input) => crypto.createHmac('sha256', secret).update(input).digest();

/** Flip one bit in the middle of the signature (the result still decodes as base64url). */
export function tamperSignature(jwt) {
  const parts = jwt.split('.');
  const sig = Buffer.from(parts[2], 'base64url');
  sig[Math.floor(sig.length / 2)] ^= 0x01;
  parts[2] = sig.toString('base64url');
  return parts.join('.');
}

/** Decoded header and payload of a compact JWS (no verification). */
export function decodeJwt(jwt) {
  const [h, p] = String(jwt).split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
}

// ---------------------------------------------------------------------------------------------
// Cases. Each may define:
//   idClaims(claims, ctx)   -> claims for the ID token (mutate or return a new object)
//   idToken(ctx)            -> the whole compact ID token (replaces normal signing)
//   header(header, ctx)     -> JWS header
//   token(req, res, ctx)    -> true if it answered the token request itself
//   userinfo(fields, ctx)   -> userinfo fields, or userinfoRaw(req, res, ctx) -> true
//   jwks(req, res, ctx)     -> true if it answered the JWKS request itself
//   authorizeParams(params, ctx) -> extra/changed callback parameters
//   enter(ctx)              -> run once by setCase (sticky key changes)
// ctx = { options, keys, issuer, clientId }

// `gzip`: the body compressed, as a provider behind a compressing gateway may send it.
const sendJson = (res, status, obj, headers = {}, { gzip = false } = {}) => {
  const text = JSON.stringify(obj);
  const body = gzip ? zlib.gzipSync(text) : Buffer.from(text);
  res.writeHead(status, {
    'content-type': 'application/json;charset=UTF-8',
    'content-length': body.length,
    'cache-control': 'no-store',
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    ...headers,
  });
  res.end(body);
};

const sendHtml = (res, status, html) => {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
  res.end(html);
};

// Headers declaring 2 MiB, and no body: the RP must refuse on the declared length alone,
// without waiting for a body (the response is held until close() or releaseHeld()).
const declareHuge = (res, ctx) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 * 1024 * 1024) });
  res.flushHeaders();
  ctx.hold(res);
  return true;
};

const redirect = (res, ctx) => {
  res.writeHead(ctx.options.status || 307, { location: ctx.options.location, 'content-length': 0 });
  res.end();
  return true;
};

const CASES = {
  normal: {},
  // the token and userinfo responses gzip-compressed (the Worker must read them as usual)
  normal_gzip: { gzip: true },

  // --- ID token claims the RP must refuse
  id_token_iss_wrong: { idClaims: (c) => ({ ...c, iss: 'https://idbroker.evil.example/idb' }) },
  id_token_aud_wrong: { idClaims: (c) => ({ ...c, aud: 'someone-else' }) },
  id_token_aud_missing: { idClaims: ({ aud, ...c }) => c },
  id_token_sub_missing: { idClaims: ({ sub, ...c }) => c },
  id_token_iat_missing: { idClaims: ({ iat, ...c }) => c },
  id_token_exp_passed: {
    idClaims: (c) => ({ ...c, iat: nowSecs() - 7200, auth_time: nowSecs() - 7300, exp: nowSecs() - 3600 }),
  },
  id_token_signature_tampered: { idToken: (ctx, claims, header) => tamperSignature(ctx.sign(header, claims)) },
  id_token_alg_none: {
    idToken: (_ctx, claims) => compactJws({ alg: 'none', typ: 'JWT' }, claims, null),
  },
  // HS256 keyed with the provider's public key: options.secret = 'pem' (SPKI PEM text,
  // default), 'der' (SPKI DER bytes), 'pkcs1' (PKCS#1 PEM text) or 'jwk' (the JWK's JSON).
  id_token_alg_hs256: {
    idToken: (ctx, claims) => {
      const key = ctx.keys.signer;
      const which = ctx.options.secret || 'pem';
      let secret;
      if (which === 'pem') secret = key.publicKey.export({ type: 'spki', format: 'pem' });
      else if (which === 'der') secret = key.publicKey.export({ type: 'spki', format: 'der' });
      else if (which === 'pkcs1') secret = key.publicKey.export({ type: 'pkcs1', format: 'pem' });
      else if (which === 'jwk') secret = JSON.stringify(key.jwk);
      else throw new Error(`unknown secret kind ${which}`);
      const header = { alg: 'HS256', typ: 'JWT' };
      if (ctx.options.kid) header.kid = key.kid;
      return compactJws(header, claims, hs256(secret));
    },
  },
  id_token_nonce_wrong: { idClaims: (c) => ({ ...c, nonce: random(16) }) },
  id_token_nonce_missing: { idClaims: ({ nonce, ...c }) => c },
  id_token_aud_multiple_no_azp: { idClaims: (c) => ({ ...c, aud: [c.aud, 'another-client'] }) },
  id_token_aud_multiple_with_azp: { idClaims: (c) => ({ ...c, aud: [c.aud, 'another-client'], azp: c.aud }) },
  id_token_azp_wrong: { idClaims: (c) => ({ ...c, azp: 'another-client' }) },
  // signed with a key the JWKS does not hold, under a random kid (a forgery)
  id_token_forged_kid: {
    idToken: (ctx, claims) => compactJws(
      { alg: 'RS256', typ: 'JWT', kid: `forged-${random(6)}` },
      claims,
      rs256(ctx.keys.attacker.privateKey),
    ),
  },
  // options.header: extra JWS header fields; options.claims: ID token claim overrides
  // (undefined deletes); options.userinfo: userinfo overrides; options.kid: put the signing
  // key's kid in the header; options.jwksDelayMs: answer JWKS requests that much later.
  // Usable with every case.
  custom: {},

  userinfo_sub_mismatch: { userinfo: (u) => ({ ...u, sub: 'ffffffff-0000-4000-8000-000000000000' }) },

  // markup and unicode in every claim and userinfo value that can carry them
  hostile_claims: {
    idClaims: (c) => ({
      ...c,
      sub: HOSTILE_TEXT,
      email: HOSTILE_TEXT,
      name: HOSTILE_TEXT,
      [`${HOSTILE_TEXT} claim`]: HOSTILE_TEXT,
      nested: { note: HOSTILE_TEXT, list: [HOSTILE_TEXT] },
    }),
    userinfo: (u) => ({
      ...u,
      sub: HOSTILE_TEXT,
      name: HOSTILE_TEXT,
      given_name: HOSTILE_TEXT,
      family_name: HOSTILE_TEXT,
      email: HOSTILE_TEXT,
      locale: HOSTILE_TEXT,
      picture: `javascript:alert(1)//${HOSTILE_TEXT}`,
      '<img src=x onerror=alert(1)>': HOSTILE_TEXT,
    }),
  },

  // --- key sets (sticky: see the header comment)
  // A new signing key, published last after two other valid RSA keys; tokens without kid.
  jwks_several_keys: {
    enter: (ctx) => {
      const signer = makeRsaKey();
      ctx.setKeys(signer, [makeRsaKey().jwk, makeRsaKey().jwk, signer.jwk], { kidInToken: false });
    },
  },
  // A new signing key next to keys that cannot verify RS256: EC, an unknown kty, RSA for
  // encryption (another key), RSA with a PS256 alg, and a 1024-bit RSA key. Tokens without kid.
  jwks_unusable_keys: {
    enter: (ctx) => {
      const signer = makeRsaKey();
      ctx.setKeys(signer, [
        makeEcJwk(),
        { kty: 'OKP-FUTURE', kid: `x-${random(4)}`, use: 'sig', x: random(32) },
        makeRsaKey({ use: 'enc' }).jwk,
        { ...makeRsaKey().jwk, alg: 'PS256' },
        makeRsaKey({ bits: 1024 }).jwk,
        signer.jwk,
      ], { kidInToken: false });
    },
  },

  // --- token endpoint faults
  token_invalid_grant: {
    token: (_req, res) => { sendJson(res, 400, { error: 'invalid_grant', error_description: 'code expired' }); return true; },
  },
  token_invalid_client: {
    token: (_req, res) => {
      sendJson(res, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="webex"' });
      return true;
    },
  },
  token_500: {
    token: (_req, res) => { sendJson(res, 500, { message: 'Internal error', trackingId: 'ROGUE_1' }); return true; },
  },
  // Webex's own error shape, {message, errors[], trackingId}, without an RFC 6749 `error`
  token_webex_401: {
    token: (_req, res) => {
      const message = 'The request requires a valid access token set in the Authorization request header.';
      sendJson(res, 401, { message, errors: [{ description: message }], trackingId: 'ROGUE_5' });
      return true;
    },
  },
  // a gateway's HTML error page instead of JSON
  token_html_502: {
    token: (_req, res) => { sendHtml(res, 502, '<html><body><h1>Bad Gateway</h1></body></html>'); return true; },
  },
  token_html_200: {
    token: (_req, res) => { sendHtml(res, 200, '<html><body><h1>Welcome</h1></body></html>'); return true; },
  },
  token_empty_200: {
    token: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '0' });
      res.end();
      return true;
    },
  },
  // 2 MiB of JSON-looking bytes, chunked, no content-length
  token_huge_200: {
    token: (_req, res, ctx) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // no content-length: chunked
      const total = ctx.options.bytes || 2 * 1024 * 1024;
      const chunk = Buffer.alloc(64 * 1024, 'a');
      let sent = 0;
      res.on('error', () => {});
      res.socket?.on('error', () => {});
      const pump = () => {
        if (res.destroyed) return;
        if (sent === 0) {
          res.write('{"access_token":"');
          sent += 17;
        }
        while (sent < total) {
          const ok = res.write(chunk);
          sent += chunk.length;
          if (!ok) {
            res.once('drain', pump);
            return;
          }
        }
        res.end('","token_type":"Bearer"}');
      };
      pump();
      return true;
    },
  },
  // a small gzip body that inflates to 8 MiB: its Content-Length (the compressed size) is
  // far below the limit, what the Worker would read after decoding is not
  token_gzip_bomb: {
    token: (_req, res, ctx) => {
      const inflated = (ctx.options.bytes || 8 * 1024 * 1024) - 42;
      const body = zlib.gzipSync(`{"access_token":"${'a'.repeat(inflated)}","token_type":"Bearer"}`);
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length });
      res.end(body);
      return true;
    },
  },
  // declares a small Content-Length and sends 8 MiB chunked anyway (both framing headers,
  // written on the socket as Node would refuse them): Transfer-Encoding decides the framing
  token_length_and_chunked: {
    token: (_req, res, ctx) => {
      const total = ctx.options.bytes || 8 * 1024 * 1024;
      const socket = res.socket;
      res.detachSocket?.(socket);
      socket.on('error', () => {});
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n');
      const piece = `{"access_token":"${'a'.repeat(64 * 1024 - 17)}`;
      let sent = 0;
      const pump = () => {
        while (sent < total && !socket.destroyed) {
          const data = sent === 0 ? piece : 'a'.repeat(64 * 1024);
          sent += data.length;
          if (!socket.write(`${data.length.toString(16)}\r\n${data}\r\n`)) {
            socket.once('drain', pump);
            return;
          }
        }
        if (!socket.destroyed) socket.end('18\r\n","token_type":"Bearer"}\r\n0\r\n\r\n');
      };
      pump();
      return true;
    },
  },
  // declares 2 MiB and sends the headers only (see declareHuge)
  token_declared_huge: { token: (_req, res, ctx) => declareHuge(res, ctx) },
  // never answers (the request is held until close() or the client gives up)
  token_hang: {
    token: (_req, res, ctx) => { ctx.hold(res); return true; },
  },

  // --- redirects (a 3xx instead of an answer): options.location is where it points,
  // options.status the status (default 307, which keeps the method and the body)
  token_redirect: { token: (_req, res, ctx) => redirect(res, ctx) },
  userinfo_hang: { userinfoRaw: (_req, res, ctx) => { ctx.hold(res); return true; } },
  userinfo_redirect: { userinfoRaw: (_req, res, ctx) => redirect(res, ctx) },
  jwks_redirect: { jwks: (_req, res, ctx) => redirect(res, ctx) },

  // --- JWKS faults
  jwks_500: {
    jwks: (_req, res) => { sendJson(res, 500, { message: 'Internal error', trackingId: 'ROGUE_2' }); return true; },
  },
  jwks_garbage: {
    jwks: (_req, res) => { sendHtml(res, 200, '<html><body>not a key set</body></html>'); return true; },
  },
  // never answers (held, like token_hang)
  jwks_hang: { jwks: (_req, res, ctx) => { ctx.hold(res); return true; } },
  jwks_declared_huge: { jwks: (_req, res, ctx) => declareHuge(res, ctx) },

  // --- userinfo faults
  userinfo_401: {
    userinfoRaw: (_req, res) => {
      sendJson(res, 401, { message: 'The request requires a valid access token.', trackingId: 'ROGUE_3' },
        { 'www-authenticate': 'Bearer error="invalid_token"' });
      return true;
    },
  },
  userinfo_500: {
    userinfoRaw: (_req, res) => { sendJson(res, 500, { message: 'Internal error', trackingId: 'ROGUE_4' }); return true; },
  },
  userinfo_not_json: {
    userinfoRaw: (_req, res) => { sendHtml(res, 200, '<html><body>profile</body></html>'); return true; },
  },
  userinfo_declared_huge: { userinfoRaw: (_req, res, ctx) => declareHuge(res, ctx) },

  // --- the authorization response (RFC 9207 iss parameter)
  authorize_iss_wrong: { authorizeParams: (p) => ({ ...p, iss: 'https://idbroker.evil.example/idb' }) },
  authorize_iss_right: { authorizeParams: (p, ctx) => ({ ...p, iss: ctx.issuer }) },
};

export const ROGUE_CASES = Object.freeze(Object.keys(CASES));

function readBody(req, limit = 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const formDecode = (s) => decodeURIComponent(String(s).replace(/\+/g, ' '));

function timingSafeEqualStr(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/**
 * Start the rogue provider on 127.0.0.1.
 * @returns {Promise<{url: string, issuer: string, clientId: string, close: () => Promise<void>,
 *   setCase: (name: string, options?: object) => void, rotateKey: () => object,
 *   stats: object, issued: object, currentCase: () => string, jwksDocument: () => object}>}
 */
export async function startRogueProvider({
  port = 0,
  clientId,
  clientSecret,
  redirectUri,
  issuer,
} = {}) {
  if (!clientId || !clientSecret || !redirectUri) throw new Error('clientId, clientSecret and redirectUri are required');

  const keys = {
    signer: makeRsaKey(),
    attacker: makeRsaKey(),
    kidInToken: false,
    published: [],
  };
  keys.published = [keys.signer.jwk];

  const stats = {
    authorize: 0,
    token: 0,
    userinfo: 0,
    jwks: 0,
    other: 0,
    /** Client authentication method of each token request: 'client_secret_basic' | 'client_secret_post' | 'none' | 'both'. */
    tokenAuthMethods: [],
    lastTokenAuth: null,
    /** Protocol violations the provider noticed in the RP's requests (should stay empty). */
    errors: [],
    /** Where access tokens arrived at userinfo. */
    userinfoTokenIn: { header: 0, query: 0, body: 0 },
    /** Times (ms) of JWKS requests, and how many keys each answer held. */
    jwksFetchedAt: [],
    lastJwksKeyCount: 0,
    lastAuthorize: null,
    lastTokenRequest: null,
    /** Last ID token header and claims issued (decoded; the raw token is in `issued`). */
    lastIdToken: null,
    held: 0,
  };
  // Everything secret the provider handed out or received, so tests can check for leaks.
  const issued = { codes: [], accessTokens: [], refreshTokens: [], idTokens: [], codeVerifiers: [] };

  let currentName = 'normal';
  let current = CASES.normal;
  let options = {};
  const codes = new Map(); // code -> { nonce, challenge, redirectUri, scope, used, at }
  const accessTokens = new Map(); // token -> { sub }
  const heldResponses = new Set();

  const server = http.createServer((req, res) => {
    // One request per connection: a pooled keep-alive connection that this server closes
    // while idle can make the client's next request fail, and the tests want to see the
    // Worker's behaviour, not that race.
    res.setHeader('connection', 'close');
    handle(req, res).catch((err) => {
      stats.errors.push(`provider crashed: ${err.message}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  });
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

  const ctx = {
    get options() { return options; },
    keys,
    issuer: issuerValue,
    clientId,
    sign(header, claims) { return compactJws(header, claims, rs256(keys.signer.privateKey)); },
    setKeys(signer, published, { kidInToken }) {
      keys.signer = signer;
      keys.published = published;
      keys.kidInToken = kidInToken;
    },
    hold(res) {
      heldResponses.add(res);
      stats.held += 1;
      res.on('close', () => heldResponses.delete(res));
    },
  };

  const problem = (what) => { stats.errors.push(what); };

  const remember = (list, value) => {
    if (typeof value === 'string' && value && !list.includes(value)) list.push(value);
  };

  function applyOverrides(obj, overrides) {
    if (!overrides) return obj;
    const out = { ...obj };
    for (const [k, v] of Object.entries(overrides)) {
      if (v === undefined) delete out[k];
      else out[k] = v;
    }
    return out;
  }

  function baseUserinfo() {
    return {
      sub: ROGUE_USER.sub,
      name: ROGUE_USER.name,
      given_name: ROGUE_USER.given_name,
      family_name: ROGUE_USER.family_name,
      email: ROGUE_USER.email,
      email_verified: 'true',
      locale: ROGUE_USER.locale,
    };
  }

  function makeIdToken(grant) {
    const now = nowSecs();
    let claims = {
      iss: issuerValue,
      sub: ROGUE_USER.sub,
      aud: clientId,
      exp: now + 3600,
      iat: now,
      auth_time: grant.authTime,
      nonce: grant.nonce,
      email: ROGUE_USER.email,
      email_verified: true,
    };
    if (grant.nonce === undefined) delete claims.nonce;
    if (current.idClaims) claims = current.idClaims(claims, ctx);
    claims = applyOverrides(claims, options.claims);
    let header = { alg: 'RS256', typ: 'JWT' };
    if (keys.kidInToken || options.kid) header.kid = keys.signer.kid;
    if (current.header) header = current.header(header, ctx);
    header = applyOverrides(header, options.header);
    const token = current.idToken ? current.idToken(ctx, claims, header) : ctx.sign(header, claims);
    return token;
  }

  async function handle(req, res) {
    const u = new URL(req.url, url);
    switch (u.pathname) {
      case PATHS.authorize: return authorize(req, res, u);
      case PATHS.token: return token(req, res);
      case PATHS.userinfo: return userinfo(req, res, u);
      case PATHS.jwks: return jwks(req, res);
      default:
        stats.other += 1;
        return sendJson(res, 404, { message: 'not found' });
    }
  }

  function authorize(req, res, u) {
    stats.authorize += 1;
    const q = u.searchParams;
    const fail = (why) => {
      problem(`authorize: ${why}`);
      sendHtml(res, 400, `<html><body><h1>Bad authorization request</h1><p>${why.replace(/[<>&"']/g, '')}</p></body></html>`);
    };
    if (req.method !== 'GET') return fail(`method ${req.method}`);
    for (const name of new Set(q.keys())) {
      if (q.getAll(name).length > 1) return fail(`parameter ${name} repeated`);
    }
    stats.lastAuthorize = Object.fromEntries(q.entries());
    if (q.get('client_id') !== clientId) return fail('unknown client_id');
    if (q.get('redirect_uri') !== redirectUri) return fail('redirect_uri is not registered');
    // From here on errors go back to the (registered) redirect URI, as RFC 6749 §4.1.2.1 says.
    const back = (params) => {
      const target = new URL(redirectUri);
      for (const [k, v] of Object.entries(params)) if (v !== undefined) target.searchParams.set(k, v);
      res.writeHead(302, { location: target.href, 'cache-control': 'no-store' });
      res.end();
    };
    const state = q.get('state') ?? undefined;
    const backError = (error, description) => {
      problem(`authorize: ${error}: ${description}`);
      back({ error, error_description: description, state });
    };
    if (q.get('response_type') !== 'code') return backError('unsupported_response_type', 'response_type must be code');
    const scopes = (q.get('scope') || '').split(' ').filter(Boolean);
    if (!scopes.includes('openid')) return backError('invalid_scope', 'openid is required');
    if (q.get('code_challenge_method') !== 'S256') return backError('invalid_request', 'code_challenge_method must be S256');
    const challenge = q.get('code_challenge') || '';
    if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) return backError('invalid_request', 'code_challenge must be 43 base64url characters');
    const code = random(32);
    codes.set(code, {
      nonce: q.get('nonce') ?? undefined,
      challenge,
      redirectUri: q.get('redirect_uri'),
      scope: scopes.join(' '),
      used: false,
      at: Date.now(),
      authTime: nowSecs() - 1,
    });
    remember(issued.codes, code);
    let params = { code, state };
    if (current.authorizeParams) params = current.authorizeParams(params, ctx);
    return back(params);
  }

  async function token(req, res) {
    stats.token += 1;
    const body = await readBody(req);
    const form = new URLSearchParams(body);
    const auth = req.headers.authorization || '';
    const hasBasic = /^basic /i.test(auth);
    const hasPost = form.has('client_secret');
    const method = hasBasic && hasPost ? 'both' : hasBasic ? 'client_secret_basic' : hasPost ? 'client_secret_post' : 'none';
    stats.tokenAuthMethods.push(method);
    stats.lastTokenAuth = method;
    stats.lastTokenRequest = {
      method: req.method,
      contentType: req.headers['content-type'] || null,
      clientAuth: method,
      params: [...new Set(form.keys())].sort(),
    };
    remember(issued.codeVerifiers, form.get('code_verifier'));

    if (current.token && current.token(req, res, ctx)) return undefined;

    const oauthError = (status, error, description) => {
      problem(`token: ${error}: ${description}`);
      sendJson(res, status, { error, error_description: description },
        status === 401 ? { 'www-authenticate': 'Basic realm="rogue"' } : {});
    };
    if (req.method !== 'POST') return oauthError(405, 'invalid_request', `method ${req.method}`);
    if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] || '')) {
      return oauthError(400, 'invalid_request', 'body must be application/x-www-form-urlencoded');
    }
    for (const name of new Set(form.keys())) {
      if (form.getAll(name).length > 1) return oauthError(400, 'invalid_request', `parameter ${name} repeated`);
    }
    // Client authentication (RFC 6749 §2.3.1): exactly one method.
    let id;
    let secret;
    if (method === 'both') return oauthError(400, 'invalid_request', 'more than one client authentication method');
    if (method === 'client_secret_basic') {
      let decoded;
      try {
        decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
      } catch {
        return oauthError(401, 'invalid_client', 'bad Basic header');
      }
      const colon = decoded.indexOf(':');
      if (colon === -1) return oauthError(401, 'invalid_client', 'bad Basic header');
      try {
        id = formDecode(decoded.slice(0, colon));
        secret = formDecode(decoded.slice(colon + 1));
      } catch {
        return oauthError(401, 'invalid_client', 'bad Basic encoding');
      }
      if (form.has('client_id') && form.get('client_id') !== id) {
        return oauthError(400, 'invalid_request', 'client_id in body differs from Basic');
      }
    } else if (method === 'client_secret_post') {
      id = form.get('client_id');
      secret = form.get('client_secret');
    } else {
      return oauthError(401, 'invalid_client', 'no client authentication');
    }
    if (id !== clientId || !timingSafeEqualStr(secret, clientSecret)) {
      return oauthError(401, 'invalid_client', 'wrong client credentials');
    }
    if (form.get('grant_type') !== 'authorization_code') return oauthError(400, 'unsupported_grant_type', 'authorization_code only');
    const code = form.get('code') || '';
    const grant = codes.get(code);
    if (!grant) return oauthError(400, 'invalid_grant', 'unknown code');
    if (grant.used) return oauthError(400, 'invalid_grant', 'code already used');
    grant.used = true; // single use, whatever happens next
    if (Date.now() - grant.at > 60_000) return oauthError(400, 'invalid_grant', 'code expired');
    if (form.get('redirect_uri') !== grant.redirectUri) return oauthError(400, 'invalid_grant', 'redirect_uri differs');
    const verifier = form.get('code_verifier') || '';
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return oauthError(400, 'invalid_grant', 'code_verifier malformed');
    const expected = crypto.createHash('sha256').update(verifier, 'ascii').digest('base64url');
    if (!timingSafeEqualStr(expected, grant.challenge)) return oauthError(400, 'invalid_grant', 'PKCE verification failed');

    const accessToken = random(48);
    const refreshToken = random(48);
    const idToken = makeIdToken(grant);
    accessTokens.set(accessToken, { sub: ROGUE_USER.sub });
    remember(issued.accessTokens, accessToken);
    remember(issued.refreshTokens, refreshToken);
    remember(issued.idTokens, idToken);
    try {
      stats.lastIdToken = decodeJwt(idToken);
    } catch {
      stats.lastIdToken = null;
    }
    return sendJson(res, 200, {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: 1209599,
      refresh_token: refreshToken,
      refresh_token_expires_in: 7775999,
      id_token: idToken,
    }, { pragma: 'no-cache' }, { gzip: current.gzip === true });
  }

  async function userinfo(req, res, u) {
    stats.userinfo += 1;
    const body = req.method === 'GET' || req.method === 'HEAD' ? '' : await readBody(req);
    const auth = req.headers.authorization || '';
    const known = [...accessTokens.keys()];
    const inQuery = u.searchParams.has('access_token') || known.some((t) => u.search.includes(t));
    const inBody = /(^|&)access_token=/.test(body) || known.some((t) => body.includes(t));
    if (inQuery) stats.userinfoTokenIn.query += 1;
    if (inBody) stats.userinfoTokenIn.body += 1;
    const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(auth);
    if (m) stats.userinfoTokenIn.header += 1;
    if (inQuery) problem('userinfo: access token in the query string');
    if (inBody) problem('userinfo: access token in the body');

    if (current.userinfoRaw && current.userinfoRaw(req, res, ctx)) return undefined;

    if (req.method !== 'GET' && req.method !== 'POST') return sendJson(res, 405, { message: 'method not allowed' });
    if (!m || !accessTokens.has(m[1])) {
      problem('userinfo: no valid bearer token in the Authorization header');
      return sendJson(res, 401, { message: 'invalid token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    let fields = baseUserinfo();
    if (current.userinfo) fields = current.userinfo(fields, ctx);
    fields = applyOverrides(fields, options.userinfo);
    return sendJson(res, 200, fields, {}, { gzip: current.gzip === true });
  }

  async function jwks(req, res) {
    stats.jwks += 1;
    stats.jwksFetchedAt.push(Date.now());
    // options.jwksDelayMs (any case): a slow key endpoint
    if (options.jwksDelayMs) await new Promise((resolve) => { setTimeout(resolve, options.jwksDelayMs); });
    if (current.jwks && current.jwks(req, res, ctx)) return undefined;
    stats.lastJwksKeyCount = keys.published.length;
    return sendJson(res, 200, { keys: keys.published }, { 'cache-control': 'max-age=3600' });
  }

  let closed = false;
  return {
    url,
    issuer: issuerValue,
    clientId,
    stats,
    issued,
    /** Select how the provider behaves from now on (see CASES). */
    setCase(name, caseOptions = {}) {
      if (!Object.hasOwn(CASES, name)) throw new Error(`unknown case ${name}; known: ${ROGUE_CASES.join(', ')}`);
      currentName = name;
      current = CASES[name];
      options = { ...caseOptions };
      if (current.enter) current.enter(ctx);
    },
    currentCase: () => currentName,
    /** A new signing key with a new kid; the old key leaves the JWKS; tokens carry the kid. */
    rotateKey() {
      const signer = makeRsaKey({ kid: `k-${random(8)}` });
      ctx.setKeys(signer, [signer.jwk], { kidInToken: true });
      return { kid: signer.kid };
    },
    /** The JWKS as currently published. */
    jwksDocument: () => ({ keys: keys.published.map((k) => ({ ...k })) }),
    /** The kid tokens currently carry (null when none). */
    tokenKid: () => (keys.kidInToken ? keys.signer.kid : null),
    /** Answer every held (never-answered) request with 503 now. */
    releaseHeld() {
      for (const r of heldResponses) {
        try { sendJson(r, 503, { message: 'released' }); } catch { r.destroy(); }
      }
      heldResponses.clear();
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const r of heldResponses) r.destroy();
      heldResponses.clear();
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
