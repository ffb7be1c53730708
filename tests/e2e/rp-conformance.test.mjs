// Relying-party conformance against a provider that misbehaves on purpose
// (tests/provider/rogue.mjs): every ID token rule, userinfo's sub, key sets and key rotation,
// JWKS refetch limits, client authentication and RFC 9207 `iss`. (The request log of each
// stack is checked when it stops: see startStack.)
// Worker on 8811, rogue provider on 9411; a second stack (client_secret_post) on 8812/9412.
import { strict as assert } from 'node:assert';
import { after, afterEach, before, test } from 'node:test';

import { ROGUE_USER } from '../provider/rogue.mjs';
import {
  SESSION_COOKIE,
  assertRefusedCallback,
  assertSecurityHeaders,
  claimsTable,
  setCookieFor,
  sleep,
  startStack,
  textOf,
  withStack,
} from './harness.mjs';

let stack;
let op; // the rogue provider

before(async () => {
  stack = await startStack({ workerPort: 8811, providerPort: 9411, provider: 'rogue' });
  op = stack.provider;
}, { timeout: 180_000 });

afterEach(() => {
  op?.setCase('normal');
});

after(async () => {
  await stack?.stop();
});

/** The provider saw no protocol error from the Worker since `mark` (an index into stats.errors). */
function assertNoProviderErrors(mark) {
  const errors = op.stats.errors.slice(mark);
  assert.deepEqual(errors, [], `the provider found errors in the Worker's requests: ${JSON.stringify(errors)}`);
}

function assertProfile(home) {
  assert.equal(home.status, 200);
  assertSecurityHeaders(home, 'profile page');
  const userinfo = claimsTable(home.text, 'userinfo');
  assert.ok(userinfo, `profile page with a #userinfo table expected:\n${textOf(home.text).slice(0, 500)}`);
  return { userinfo, idClaims: claimsTable(home.text, 'id-token-claims') };
}

/**
 * A login the Worker must accept: /login -> rogue authorize -> callback -> GET /. Ends signed
 * out again (logout), so that KV holds no session between tests.
 */
async function acceptedLogin(caseName = 'normal', options = {}) {
  const errorsMark = op.stats.errors.length;
  op.setCase(caseName, options);
  const browser = stack.newBrowser();
  const r = await stack.login(browser);
  op.setCase('normal');
  assertNoProviderErrors(errorsMark);
  const shown = assertProfile(r.home);
  const out = await stack.logout(browser);
  assert.equal(out.status, 302, 'logout');
  return { ...r, ...shown };
}

/**
 * A login the Worker must refuse at the callback (assertRefusedCallback: the error page with
 * `status`, the reason on it and in the callback's log line, no session cookie, the
 * signed-out page afterwards), and no session in KV: every test here ends signed out.
 */
async function refusedLogin(caseName, options, { status = 502, reason }) {
  op.setCase(caseName, options);
  const browser = stack.newBrowser();
  const { callbackUrl } = await stack.beginLogin(browser);
  const res = await stack.completeLogin(browser, callbackUrl);
  op.setCase('normal');
  await assertRefusedCallback(stack, browser, res, { status, reason, sessionsBefore: 0, label: caseName });
  return { res };
}

/** Wait until the Worker may refetch the JWKS (10 s after its last fetch, plus a margin). */
async function waitForJwksCooldown() {
  const last = op.stats.jwksFetchedAt.at(-1) ?? 0;
  const wait = last + 11_000 - Date.now();
  if (wait > 0) await sleep(wait);
}

// ---------------------------------------------------------------------------------------------
// Accepted logins

test('accept: code flow with openid email profile; userinfo claims on the profile page', { timeout: 60_000 }, async () => {
  const jwksBefore = op.stats.jwks;
  const r = await acceptedLogin();

  const q = op.stats.lastAuthorize;
  assert.deepEqual(new Set(q.scope.split(' ')), new Set(['openid', 'email', 'profile']));
  assert.equal(q.response_type, 'code');
  assert.equal(q.code_challenge_method, 'S256');
  assert.ok(q.state && q.nonce, 'state and nonce sent');
  const t = op.stats.lastTokenRequest;
  assert.equal(t.method, 'POST');
  assert.match(t.contentType, /^application\/x-www-form-urlencoded/);
  for (const p of ['grant_type', 'code', 'redirect_uri', 'code_verifier']) assert.ok(t.params.includes(p), `token request has ${p}`);
  assert.ok(op.stats.jwks > jwksBefore, 'the JWKS was fetched');

  assert.equal(r.userinfo.get('sub'), ROGUE_USER.sub);
  assert.equal(r.userinfo.get('name'), ROGUE_USER.name);
  assert.equal(r.userinfo.get('given_name'), ROGUE_USER.given_name);
  assert.equal(r.userinfo.get('family_name'), ROGUE_USER.family_name);
  assert.equal(r.userinfo.get('email'), ROGUE_USER.email);
  assert.equal(r.userinfo.get('email_verified'), 'true');
  assert.equal(r.userinfo.get('locale'), ROGUE_USER.locale);
  assert.equal(r.idClaims.get('sub'), ROGUE_USER.sub);
  assert.equal(r.idClaims.get('iss'), op.issuer);
  assert.equal(r.idClaims.get('aud'), 'e2e-client');
  assert.equal(r.idClaims.get('email'), ROGUE_USER.email);
  for (const c of ['exp', 'iat', 'auth_time', 'nonce']) assert.ok(r.idClaims.has(c), `ID token claim ${c} shown`);
});

test('accept: valid RS256 ID token without kid, one key in the JWKS', { timeout: 60_000 }, async () => {
  await acceptedLogin();
  assert.equal(op.stats.lastIdToken.header.alg, 'RS256');
  assert.equal(op.stats.lastIdToken.header.kid, undefined, 'the token carries no kid');
  assert.equal(op.jwksDocument().keys.length, 1);
  assert.equal(op.stats.lastJwksKeyCount, 1, 'the JWKS the Worker fetched held one key');
});

test('accept: several audiences with azp = this client', { timeout: 60_000 }, async () => {
  await acceptedLogin('id_token_aud_multiple_with_azp');
  assert.deepEqual(op.stats.lastIdToken.payload.aud, ['e2e-client', 'another-client']);
});

test('client authentication: client_secret_basic by default', () => {
  assert.ok(op.stats.tokenAuthMethods.length >= 1);
  assert.deepEqual([...new Set(op.stats.tokenAuthMethods)], ['client_secret_basic']);
  assert.ok(!op.stats.lastTokenRequest.params.includes('client_secret'), 'no client_secret in the body');
});

test('the access token reaches userinfo only in the Authorization header', { timeout: 60_000 }, async () => {
  const before = { ...op.stats.userinfoTokenIn };
  await acceptedLogin();
  const now = op.stats.userinfoTokenIn;
  assert.equal(now.header - before.header, 1, 'Bearer token in the Authorization header');
  assert.equal(now.query, 0, 'never in the query string');
  assert.equal(now.body, 0, 'never in a body');
});

// ---------------------------------------------------------------------------------------------
// Refused ID tokens and userinfo

test('reject: iss not allowed (id_token_iss)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_iss_wrong', {}, { reason: 'id_token_iss' });
});

test('reject: aud is another client (id_token_aud)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_aud_wrong', {}, { reason: 'id_token_aud' });
});

test('reject: aud missing (id_token_aud)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_aud_missing', {}, { reason: 'id_token_aud' });
});

test('reject: sub missing (id_token_sub)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_sub_missing', {}, { reason: 'id_token_sub' });
});

test('reject: iat missing (id_token_iat)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_iat_missing', {}, { reason: 'id_token_iat' });
});

test('reject: exp passed (id_token_exp)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_exp_passed', {}, { reason: 'id_token_exp' });
});

test('reject: tampered signature (id_token_signature)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_signature_tampered', {}, { reason: 'id_token_signature' });
});

test('reject: alg none (id_token_alg)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_alg_none', {}, { reason: 'id_token_alg' });
  assert.equal(op.stats.lastIdToken.header.alg, 'none');
});

test('reject: a validly signed token whose header carries crit (id_token_crit)', { timeout: 60_000 }, async () => {
  const header = { crit: ['exp'], exp: Math.floor(Date.now() / 1000) + 600 };
  await refusedLogin('custom', { header }, { reason: 'id_token_crit' });
  assert.deepEqual(op.stats.lastIdToken.header.crit, ['exp']);
});

test('reject: HS256 keyed with the RSA public key PEM / SPKI bytes (id_token_alg)', { timeout: 90_000 }, async () => {
  for (const secret of ['pem', 'der', 'pkcs1']) {
    await refusedLogin('id_token_alg_hs256', { secret }, { reason: 'id_token_alg' });
    assert.equal(op.stats.lastIdToken.header.alg, 'HS256');
  }
});

test('reject: HS256 keyed with the JWK JSON (id_token_alg)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_alg_hs256', { secret: 'jwk' }, { reason: 'id_token_alg' });
  await refusedLogin('id_token_alg_hs256', { secret: 'jwk', kid: true }, { reason: 'id_token_alg' });
});

test('reject: nonce wrong (id_token_nonce)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_nonce_wrong', {}, { reason: 'id_token_nonce' });
});

test('reject: nonce missing (id_token_nonce)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_nonce_missing', {}, { reason: 'id_token_nonce' });
});

test('reject: userinfo sub differs from the ID token (userinfo_sub_mismatch)', { timeout: 60_000 }, async () => {
  const userinfoCalls = op.stats.userinfo;
  await refusedLogin('userinfo_sub_mismatch', {}, { reason: 'userinfo_sub_mismatch' });
  assert.equal(op.stats.userinfo - userinfoCalls, 1, 'userinfo was asked');
});

test('reject: several audiences without azp (id_token_azp)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_aud_multiple_no_azp', {}, { reason: 'id_token_azp' });
});

test('reject: azp is another client (id_token_azp)', { timeout: 60_000 }, async () => {
  await refusedLogin('id_token_azp_wrong', {}, { reason: 'id_token_azp' });
});

// ---------------------------------------------------------------------------------------------
// RFC 9207

test('RFC 9207: an authorization response iss that is not the allowed issuer -> 400 (callback_iss_mismatch)', { timeout: 60_000 }, async () => {
  const tokenCalls = op.stats.token;
  await refusedLogin('authorize_iss_wrong', {}, { status: 400, reason: 'callback_iss_mismatch' });
  assert.equal(op.stats.token, tokenCalls, 'the code was not redeemed');
});

test('RFC 9207: an authorization response iss equal to the allowed issuer is accepted', { timeout: 60_000 }, async () => {
  const r = await acceptedLogin('authorize_iss_right');
  assert.equal(new URL(r.callbackUrl).searchParams.get('iss'), op.issuer);
});

// ---------------------------------------------------------------------------------------------
// Key sets. Each case below switches to a new signing key that the Worker has not cached, so
// the Worker must (re)fetch the JWKS, which it does at most once per 10 s: wait for that first.

test('accept: kid absent, several keys in the JWKS, the right one not first', { timeout: 60_000 }, async () => {
  await waitForJwksCooldown();
  const jwksBefore = op.stats.jwks;
  op.setCase('jwks_several_keys'); // sticky: the new key stays the signer afterwards
  const doc = op.jwksDocument();
  assert.equal(doc.keys.length, 3);
  await acceptedLogin();
  assert.equal(op.stats.jwks - jwksBefore, 1, 'the Worker fetched the new key set once');
  assert.equal(op.stats.lastJwksKeyCount, 3);
  assert.equal(op.stats.lastIdToken.header.kid, undefined, 'the token carries no kid');
  const signerKid = doc.keys[2].kid;
  assert.ok(doc.keys.slice(0, 2).every((k) => k.kid !== signerKid && k.kty === 'RSA'), 'two other RSA keys come first');
});

test('accept: JWKS with unusable keys (EC, unknown kty, RSA use=enc, PS256, 1024-bit) next to the good one', { timeout: 60_000 }, async () => {
  await waitForJwksCooldown();
  const jwksBefore = op.stats.jwks;
  op.setCase('jwks_unusable_keys');
  const kinds = op.jwksDocument().keys.map((k) => `${k.kty}/${k.use}/${k.alg}`);
  assert.deepEqual(kinds.slice(0, 3), ['EC/sig/ES256', 'OKP-FUTURE/sig/undefined', 'RSA/enc/RS256']);
  await acceptedLogin();
  assert.equal(op.stats.jwks - jwksBefore, 1, 'the Worker fetched the new key set once');
  assert.equal(op.stats.lastJwksKeyCount, 6);
});

test('key rotation: new key with a new kid, old key gone; after 11 s a login refetches the JWKS and succeeds', { timeout: 90_000 }, async () => {
  await acceptedLogin(); // login 1 with the current key
  const { kid } = op.rotateKey();
  assert.deepEqual(op.jwksDocument().keys.map((k) => k.kid), [kid], 'only the new key is published');
  await sleep(11_000);
  const jwksBefore = op.stats.jwks;
  await acceptedLogin(); // login 2 with the new key
  assert.equal(op.stats.lastIdToken.header.kid, kid, 'the token carried the new kid');
  assert.ok(op.stats.jwks - jwksBefore >= 1, 'the JWKS was fetched again');
});

async function forgedKidBurst({ concurrent }) {
  await waitForJwksCooldown(); // a refetch is allowed again: the burst may cause exactly one
  const browsers = [];
  for (let i = 0; i < 5; i += 1) {
    const browser = stack.newBrowser();
    const { callbackUrl } = await stack.beginLogin(browser);
    browsers.push({ browser, callbackUrl });
  }
  // The key endpoint takes 500 ms to answer, as a busy one might: requests that arrive while
  // a refetch is under way must not start fetches of their own.
  op.setCase('id_token_forged_kid', { jwksDelayMs: 500 });
  const jwksBefore = op.stats.jwks;
  const mark = stack.logMark();
  const started = Date.now();
  let results;
  if (concurrent) {
    results = await Promise.all(browsers.map(({ browser, callbackUrl }) => stack.completeLogin(browser, callbackUrl)));
  } else {
    results = [];
    for (const { browser, callbackUrl } of browsers) results.push(await stack.completeLogin(browser, callbackUrl));
  }
  const elapsed = Date.now() - started;
  op.setCase('normal');
  const extraFetches = op.stats.jwks - jwksBefore;
  assert.ok(elapsed < 2_000, `the burst took ${elapsed} ms`);
  for (const res of results) {
    assert.equal(res.status, 502, `forged token: ${res.status} ${textOf(res.text).slice(0, 200)}`);
    assert.equal(setCookieFor(res, SESSION_COOKIE), null);
  }
  await stack.waitForLog('id_token_signature', mark);
  await sleep(300);
  // The callbacks' lines (a /login line of the set-up can still arrive after the mark).
  const reasons = stack.jsonLogs(mark).filter((o) => o.event === 'request' && o.route === '/oauth').map((o) => o.reason);
  assert.deepEqual(reasons, Array(5).fill('id_token_signature'), `reasons: ${JSON.stringify(reasons)}`);
  assert.ok(extraFetches <= 1, `5 forged kids within ${elapsed} ms caused ${extraFetches} JWKS fetches (at most 1 allowed)`);
  assert.equal(await stack.sessionCount(), 0, 'no session in KV');
  // and a genuine login right after still works without any trouble
  await acceptedLogin();
}

test('JWKS refetch limit: 5 logins with forged unknown kids, one after another within 2 s (JWKS answering in 500 ms) -> at most 1 JWKS fetch', { timeout: 90_000 }, async () => {
  await forgedKidBurst({ concurrent: false });
});

test('JWKS refetch limit: 5 concurrent logins with forged unknown kids (JWKS answering in 500 ms) -> at most 1 JWKS fetch', { timeout: 90_000 }, async () => {
  await forgedKidBurst({ concurrent: true });
});

// ---------------------------------------------------------------------------------------------
// client_secret_post on a stack of its own

test('client authentication: WEBEX_TOKEN_AUTH=client_secret_post sends the credentials in the body only', { timeout: 240_000 }, async () => {
  await withStack({
    workerPort: 8812,
    providerPort: 9412,
    provider: 'rogue',
    vars: { WEBEX_TOKEN_AUTH: 'client_secret_post' },
  }, async (post) => {
    const browser = post.newBrowser();
    const r = await post.login(browser);
    assert.equal(r.home.status, 200);
    assert.equal(claimsTable(r.home.text, 'userinfo')?.get('email'), ROGUE_USER.email);
    assert.deepEqual(post.provider.stats.errors, []);
    assert.deepEqual(post.provider.stats.tokenAuthMethods, ['client_secret_post']);
    const params = post.provider.stats.lastTokenRequest.params;
    assert.ok(params.includes('client_id') && params.includes('client_secret'), `body params: ${params}`);
    await post.logout(browser);
  });
});
