// Provider faults against the rogue provider (tests/provider/rogue.mjs): token endpoint
// errors, unreadable, oversized and never-arriving token responses, JWKS and userinfo
// failures. Each ends on an HTML error page with the right status and reason, no session
// (cookie or KV), and a normal login right after succeeds.
// Worker on 8813 / provider on 9413; the JWKS faults need Workers that never fetched keys
// (the Worker caches a good JWKS for an hour), so each gets a fresh stack: 8814/9414, 8815/9415.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import { after, afterEach, before, test } from 'node:test';

import { ROGUE_USER } from '../provider/rogue.mjs';
import {
  SESSION_COOKIE,
  assertRequestLogs,
  assertSecurityHeaders,
  claimsTable,
  reasonsSince,
  setCookieFor,
  startStack,
  textOf,
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
 * Start a login, switch the provider to `caseName` for the callback, and check the failure;
 * then switch back and check that the same browser can sign in normally.
 */
async function faultLogin(s, caseName, { status = 502, reason, page, options = {} }) {
  const op = s.provider;
  const sessionsBefore = await s.sessionCount();
  const browser = s.newBrowser();
  const { callbackUrl } = await s.beginLogin(browser);
  op.setCase(caseName, options);
  const mark = s.logMark();
  const started = Date.now();
  const res = await s.completeLogin(browser, callbackUrl);
  const elapsedMs = Date.now() - started;
  op.setCase('normal');

  assert.equal(res.status, status,
    `${caseName}: expected ${status}, got ${res.status}: ${textOf(res.text).slice(0, 400)}\n--- worker log ---\n${s.logsSince(mark).slice(-1500)}`);
  assert.match(res.headers.get('content-type') || '', /text\/html/);
  assert.match(res.text, /Start again/, 'the error page offers "Start again"');
  assertSecurityHeaders(res, `${caseName} error page`);
  if (page) assert.match(textOf(res.text), page, `${caseName}: page text`);
  assert.ok(res.text.includes(reason), `${caseName}: the page names the reason code ${reason}`);
  assert.equal(setCookieFor(res, SESSION_COOKIE), null, 'no session cookie');
  await s.assertNoSession(browser, res);
  assert.equal(await s.sessionCount(), sessionsBefore, 'no session in KV');
  await s.waitForLog('"route":"/oauth"', mark);
  const reasons = reasonsSince(s, mark);
  assert.ok(reasons.includes(reason), `${caseName}: expected reason ${reason} in the log, got ${JSON.stringify(reasons)}`);

  // the fault is gone: the same browser signs in
  const ok = await s.login(browser);
  assert.equal(ok.home.status, 200);
  assert.equal(claimsTable(ok.home.text, 'userinfo')?.get('email'), ROGUE_USER.email, 'profile page after the fault');
  assert.equal(await s.sessionCount(), sessionsBefore + 1, 'the normal login made one session');
  const out = await s.logout(browser);
  assert.equal(out.status, 302);
  return { res, elapsedMs, reasons };
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

test('token endpoint 400 invalid_grant -> 502 token_invalid_grant; the page says the code expired', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'token_invalid_grant', { reason: 'token_invalid_grant', page: /expire/i });
});

test('token endpoint 401 invalid_client -> 502 token_invalid_client; the page names WEBEX_CLIENT_SECRET', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'token_invalid_client', { reason: 'token_invalid_client', page: /WEBEX_CLIENT_SECRET/ });
});

test('token endpoint 500 -> 502 token_endpoint_error', { timeout: 60_000 }, async () => {
  const { res } = await faultLogin(stack, 'token_500', { reason: 'token_endpoint_error' });
  assert.ok(!res.text.includes('ROGUE_1'), 'the provider\'s body is not dumped on the page');
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

test('userinfo that never answers -> 502 userinfo_timeout after about 10 s', { timeout: 90_000 }, async () => {
  const { elapsedMs } = await faultLogin(stack, 'userinfo_hang', { reason: 'userinfo_timeout', page: /profile service/i });
  assert.ok(elapsedMs >= 9_000 && elapsedMs <= 20_000, `the Worker gave up after ${elapsedMs} ms (expected about 10 s)`);
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
  await faultLogin(stack, 'userinfo_401', { reason: 'userinfo_error' });
});

test('userinfo 500 -> 502 userinfo_error', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'userinfo_500', { reason: 'userinfo_error' });
});

test('userinfo 200 that is not JSON -> 502 userinfo_invalid', { timeout: 60_000 }, async () => {
  await faultLogin(stack, 'userinfo_not_json', { reason: 'userinfo_invalid' });
});

test('logs (8813): one JSON line per request, and no client secret, code, verifier or token', { timeout: 60_000 }, async () => {
  await assertRequestLogs(stack);
});

// ---------------------------------------------------------------------------------------------
// JWKS: each on a fresh Worker that has never fetched keys

async function jwksFault(workerPort, providerPort, caseName, reason) {
  const fresh = await startStack({ workerPort, providerPort, provider: 'rogue' });
  try {
    assert.equal(fresh.provider.stats.jwks, 0, 'a fresh Worker has not fetched keys');
    const jwksBefore = fresh.provider.stats.jwks;
    await faultLogin(fresh, caseName, { reason });
    assert.ok(fresh.provider.stats.jwks - jwksBefore >= 2, 'the JWKS was asked during the fault and again for the normal login');
    await assertRequestLogs(fresh);
  } finally {
    await fresh.stop();
  }
}

test('JWKS endpoint 500 -> 502 jwks_unavailable (fresh Worker)', { timeout: 240_000 }, async () => {
  await jwksFault(8814, 9414, 'jwks_500', 'jwks_unavailable');
});

test('JWKS endpoint answers <html> -> 502 jwks_malformed (fresh Worker)', { timeout: 240_000 }, async () => {
  await jwksFault(8815, 9415, 'jwks_garbage', 'jwks_malformed');
});
