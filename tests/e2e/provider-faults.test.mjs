// The provider fails, as the Worker sees it (the rogue provider, tests/provider/rogue.mjs):
// token endpoint errors (RFC 6749 and Webex-shaped), unreadable, oversized and never-arriving
// token responses, redirects, and userinfo and JWKS failures. Each fault is tested once, and
// each ends on an HTML error page with the exact status and reason code (on the page and in
// the request's log line), the security headers, no session (cookie or KV); then the same
// browser signs in normally.
// Worker on 8813 / provider on 9413. The JWKS faults need Workers that never fetched keys (the
// Worker caches a good JWKS for an hour), so each gets a fresh stack: 8814/9414, 8815/9415,
// 8817/9417 and 8818/9418.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import { after, afterEach, before, test } from 'node:test';

import { ROGUE_USER } from '../provider/rogue.mjs';
import {
  assertRefusedCallback,
  claimsTable,
  isProfile,
  startStack,
  textOf,
  withStack,
} from './harness.mjs';

let stack;

before(async () => {
  stack = await startStack({ workerPort: 8813, providerPort: 9413, provider: 'rogue' });
}, { timeout: 180_000 });

afterEach(() => {
  stack?.provider.setCase('normal');
});

after(async () => {
  await stack?.stop();
});

/**
 * Start a login, switch the provider to `caseName` for the callback, and check the refusal
 * (assertRefusedCallback: status, page, reason in the page and the log line, no session);
 * then switch back and check that the same browser signs in normally. The case's name starts
 * with the endpoint it breaks (token_, userinfo_, jwks_), which must have been asked.
 */
async function faultLogin(s, caseName, { status = 502, reason, page, options = {} }) {
  const op = s.provider;
  const endpoint = caseName.split('_')[0];
  assert.ok(['token', 'userinfo', 'jwks'].includes(endpoint), `case ${caseName} names its endpoint`);
  const sessionsBefore = await s.sessionCount();
  const browser = s.newBrowser();
  const { callbackUrl } = await s.beginLogin(browser);
  op.setCase(caseName, options);
  const asked = op.stats[endpoint];
  const started = Date.now();
  const res = await s.completeLogin(browser, callbackUrl);
  const elapsedMs = Date.now() - started;
  op.setCase('normal');

  assert.ok(op.stats[endpoint] > asked, `${caseName}: the faulty ${endpoint} endpoint was asked`);
  await assertRefusedCallback(s, browser, res, { status, reason, sessionsBefore, label: caseName });
  if (page) assert.match(textOf(res.text), page, `${caseName}: page text`);

  // the fault is gone: the same browser signs in
  const ok = await s.login(browser);
  assert.ok(isProfile(ok.home), `${caseName}: the profile page after the fault`);
  assert.equal(claimsTable(ok.home.text, 'userinfo')?.get('email'), ROGUE_USER.email, 'profile page after the fault');
  assert.equal(await s.sessionCount(), sessionsBefore + 1, 'the normal login made one session');
  const out = await s.logout(browser);
  assert.equal(out.status, 302);
  return { res, elapsedMs };
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

test('token endpoint 400 invalid_grant -> 502 token_invalid_grant; the page says the code expired', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'token_invalid_grant', { reason: 'token_invalid_grant', page: /expire/i });
});

test('token endpoint 401 invalid_client -> 502 token_invalid_client; the page names WEBEX_CLIENT_SECRET', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'token_invalid_client', { reason: 'token_invalid_client', page: /WEBEX_CLIENT_SECRET/ });
});

test('token endpoint Webex-style 401 {message, errors, trackingId} -> 502 token_invalid_client', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'token_webex_401', { reason: 'token_invalid_client', page: /WEBEX_CLIENT_SECRET/ });
});

test('token endpoint 500 -> 502 token_endpoint_error; the provider\'s body is not dumped on the page', { timeout: 60_000 }, async () => {
  const { res } = await faultLogin(stack, 'token_500', { reason: 'token_endpoint_error' });
  assert.ok(!res.text.includes('ROGUE_1'), 'the provider\'s body is not dumped on the page');
});

test('token endpoint 502 with an HTML body (a gateway) -> 502 token_endpoint_error', { timeout: 60_000 }, async () => {
  const { res } = await faultLogin(stack, 'token_html_502', { reason: 'token_endpoint_error' });
  assert.ok(!res.text.includes('Bad Gateway'), 'the gateway\'s page is not dumped on the page');
});

test('token endpoint 200 with an HTML body -> 502 token_response_invalid', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'token_html_200', { reason: 'token_response_invalid' });
});

test('token endpoint 200 with an empty body -> 502 token_response_invalid', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'token_empty_200', { reason: 'token_response_invalid' });
});

test('token endpoint 200 with 2 MiB, chunked, no content-length -> 502 token_response_too_large', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'token_huge_200', { reason: 'token_response_too_large' });
});

test('token and userinfo responses in gzip -> signed in as usual (the decoded bytes are counted, not refused)', { timeout: 60_000 }, async () => {
  stack.provider.setCase('normal_gzip');
  const browser = stack.newBrowser();
  const ok = await stack.login(browser);
  assert.ok(isProfile(ok.home), 'the profile page');
  assert.equal(claimsTable(ok.home.text, 'userinfo')?.get('email'), ROGUE_USER.email, 'userinfo from the compressed response');
  assert.equal((await stack.logout(browser)).status, 302);
});

test('token endpoint 200 with 8 KiB of gzip that inflates to 8 MiB -> 502 token_response_too_large', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'token_gzip_bomb', { reason: 'token_response_too_large' });
});

test('token endpoint declaring 100 bytes but sending 8 MiB chunked -> 502 token_response_too_large', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'token_length_and_chunked', { reason: 'token_response_too_large' });
});

test('token endpoint that never answers -> 502 token_endpoint_timeout after about 10 s', { timeout: 90_000 }, async () => {
  const held = stack.provider.stats.held;
  const { elapsedMs } = await faultLogin(stack, 'token_hang', { reason: 'token_endpoint_timeout', page: /in time/i });
  assert.equal(stack.provider.stats.held - held, 1, 'the provider held one token request');
  assert.ok(elapsedMs >= 9_000 && elapsedMs <= 20_000, `the Worker gave up after ${elapsedMs} ms (expected about 10 s)`);
  stack.provider.releaseHeld();
});

test('token endpoint declaring 2 MiB in Content-Length -> 502 token_response_too_large at once', { timeout: 60_000 }, async () => {
  const { elapsedMs } = await faultLogin(stack, 'token_declared_huge', { reason: 'token_response_too_large' });
  assert.ok(elapsedMs < 5_000, `refused on the declared length, without waiting for a body (${elapsedMs} ms)`);
  stack.provider.releaseHeld();
});

// ---------------------------------------------------------------------------------------------
// Redirects: never followed. Each points at a second listener that must see no request (a
// followed 307 from the token endpoint would re-send the code, the PKCE verifier and the
// client credentials to it).

async function withTrapListener(fn) {
  const seen = [];
  const trap = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise((resolve) => { trap.listen(0, '127.0.0.1', resolve); });
  try {
    return await fn(`http://127.0.0.1:${trap.address().port}`, seen);
  } finally {
    await new Promise((resolve) => { trap.close(resolve); trap.closeAllConnections(); });
  }
}

test('token endpoint 307 to another listener -> 502 token_redirect; the redirect is not followed', { timeout: 60_000 }, async () => {
  await withTrapListener(async (trapUrl, seen) => {
    const location = `${trapUrl}/v1/access_token`;
    await faultLogin(stack, 'token_redirect', { reason: 'token_redirect', page: /redirect/i, options: { status: 307, location } });
    assert.deepEqual(seen, [], 'the second listener received no request');
  });
});

test('userinfo 308 to another listener -> 502 userinfo_redirect; the redirect is not followed', { timeout: 60_000 }, async () => {
  await withTrapListener(async (trapUrl, seen) => {
    const location = `${trapUrl}/v1/userinfo`;
    await faultLogin(stack, 'userinfo_redirect', { reason: 'userinfo_redirect', options: { status: 308, location } });
    assert.deepEqual(seen, [], 'the second listener received no request');
  });
});

// ---------------------------------------------------------------------------------------------
// Userinfo

test('userinfo 401 -> 502 userinfo_error', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'userinfo_401', { reason: 'userinfo_error', page: /profile service/i });
});

test('userinfo 500 -> 502 userinfo_error', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'userinfo_500', { reason: 'userinfo_error' });
});

test('userinfo 200 that is not JSON -> 502 userinfo_invalid', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'userinfo_not_json', { reason: 'userinfo_invalid' });
});

test('userinfo that never answers -> 502 userinfo_timeout after about 10 s', { timeout: 90_000 }, async () => {
  const { elapsedMs } = await faultLogin(stack, 'userinfo_hang', { reason: 'userinfo_timeout', page: /profile service/i });
  assert.ok(elapsedMs >= 9_000 && elapsedMs <= 20_000, `the Worker gave up after ${elapsedMs} ms (expected about 10 s)`);
  stack.provider.releaseHeld();
});

test('userinfo declaring 2 MiB in Content-Length -> 502 userinfo_response_too_large at once', { timeout: 60_000 }, async () => {
  const held = stack.provider.stats.held;
  const { elapsedMs } = await faultLogin(stack, 'userinfo_declared_huge', { reason: 'userinfo_response_too_large', page: /profile service/i });
  assert.equal(stack.provider.stats.held - held, 1, 'the provider sent the headers and held the userinfo response');
  assert.ok(elapsedMs < 5_000, `refused on the declared length, without waiting for a body (${elapsedMs} ms)`);
  stack.provider.releaseHeld();
});

// ---------------------------------------------------------------------------------------------
// JWKS: each on a fresh Worker that has never fetched keys

async function jwksFault(workerPort, providerPort, caseName, reason) {
  return withStack({ workerPort, providerPort, provider: 'rogue' }, async (fresh) => {
    assert.equal(fresh.provider.stats.jwks, 0, 'a fresh Worker has not fetched keys');
    const held = fresh.provider.stats.held;
    const result = await faultLogin(fresh, caseName, { reason, page: /signing keys/i });
    assert.ok(fresh.provider.stats.jwks >= 2, 'the JWKS was asked during the fault and again for the normal login');
    fresh.provider.releaseHeld();
    return { ...result, held: fresh.provider.stats.held - held };
  });
}

test('JWKS endpoint 500 -> 502 jwks_unavailable (fresh Worker)', { timeout: 240_000 }, async () => {
  await jwksFault(8814, 9414, 'jwks_500', 'jwks_unavailable');
});

test('JWKS endpoint answers <html> -> 502 jwks_malformed (fresh Worker)', { timeout: 240_000 }, async () => {
  await jwksFault(8815, 9415, 'jwks_garbage', 'jwks_malformed');
});

test('JWKS endpoint that never answers -> 502 jwks_timeout after about 10 s, the Worker\'s own timeout (fresh Worker)', { timeout: 240_000 }, async () => {
  const { elapsedMs, held } = await jwksFault(8817, 9417, 'jwks_hang', 'jwks_timeout');
  assert.equal(held, 1, 'the provider held one JWKS request');
  assert.ok(elapsedMs >= 9_000 && elapsedMs <= 20_000, `the Worker gave up after ${elapsedMs} ms (expected about 10 s)`);
});

test('JWKS endpoint declaring 2 MiB in Content-Length -> 502 jwks_response_too_large at once (fresh Worker)', { timeout: 240_000 }, async () => {
  const { elapsedMs, held } = await jwksFault(8818, 9418, 'jwks_declared_huge', 'jwks_response_too_large');
  assert.equal(held, 1, 'the provider sent the headers and held the JWKS response');
  assert.ok(elapsedMs < 5_000, `refused on the declared length, without waiting for a body (${elapsedMs} ms)`);
});
