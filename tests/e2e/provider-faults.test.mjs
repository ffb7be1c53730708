// The provider misbehaves: token endpoint errors, non-JSON bodies, a forged ID token.
// Worker on 8803, provider on 9403.
import { strict as assert } from 'node:assert';
import { after, afterEach, before, test } from 'node:test';

import { DEMO_USER } from '../provider/provider.mjs';
import {
  assertSecurityHeaders,
  claimsTable,
  reasonsSince,
  startStack,
  textOf,
} from './harness.mjs';

let stack;

before(async () => {
  stack = await startStack({ workerPort: 8803, providerPort: 9403 });
}, { timeout: 180_000 });

afterEach(() => {
  stack?.provider.setFault(null);
});

after(async () => {
  await stack?.stop();
});

async function loginWithFault(fault) {
  const sessionsBefore = await stack.sessionCount();
  const browser = stack.newBrowser();
  const { callbackUrl } = await stack.beginLogin(browser);
  stack.provider.setFault(fault);
  const faultsBefore = stack.provider.stats.faults;
  const mark = stack.logMark();
  const res = await stack.completeLogin(browser, callbackUrl);
  stack.provider.setFault(null);
  assert.ok(stack.provider.stats.faults > faultsBefore, `fault ${fault} was hit`);
  await stack.assertNoSession(browser, res);
  assert.equal(await stack.sessionCount(), sessionsBefore, 'no session created in KV');
  await stack.waitForLog('"reason"', mark);
  return { browser, res, mark, reasons: reasonsSince(stack, mark) };
}

function assertErrorPage(res, status) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${textOf(res.text).slice(0, 400)}`);
  assert.match(res.headers.get('content-type') || '', /text\/html/);
  assert.match(res.text, /Start again/);
  assertSecurityHeaders(res, `error ${status}`);
}

test('token endpoint 500 -> 502 page, no session; after the fault clears a normal login works', { timeout: 90_000 }, async () => {
  const { browser, res, reasons } = await loginWithFault('token_500');
  assertErrorPage(res, 502);
  assert.ok(reasons.includes('token_endpoint_error'), `reasons logged: ${JSON.stringify(reasons)}`);
  assert.ok(!res.text.includes('trackingId') || !res.text.includes('boom'), 'raw provider body is not dumped on the page');

  // same browser, fault off: the login goes through
  const sessionsBefore = await stack.sessionCount();
  const ok = await stack.login(browser);
  assert.equal(ok.home.status, 200);
  assert.equal(claimsTable(ok.home.text, 'userinfo')?.get('email'), DEMO_USER.email);
  assert.equal(await stack.sessionCount(), sessionsBefore + 1);
  await stack.logout(browser);
});

// The brief names one reason for token endpoint failures (token_endpoint_error); a more
// specific token_* reason (e.g. token_invalid_grant) is accepted for the cases below.
const tokenReason = (reasons) => reasons.some((r) => r === 'token_endpoint_error' || /^token_/.test(r));

test('token endpoint invalid_grant (400) -> 502, token_* reason', { timeout: 60_000 }, async () => {
  const { res, reasons } = await loginWithFault('token_invalid_grant');
  assertErrorPage(res, 502);
  assert.ok(tokenReason(reasons), `reasons logged: ${JSON.stringify(reasons)}`);
});

test('token endpoint Webex-style 401 {message, errors, trackingId} -> 502, token_* reason', { timeout: 60_000 }, async () => {
  const { res, reasons } = await loginWithFault('token_webex_401');
  assertErrorPage(res, 502);
  assert.ok(tokenReason(reasons), `reasons logged: ${JSON.stringify(reasons)}`);
});

test('token endpoint answering non-JSON (HTML 502) -> 502, token_* reason', { timeout: 60_000 }, async () => {
  const { res, reasons } = await loginWithFault('token_html_502');
  assertErrorPage(res, 502);
  assert.ok(tokenReason(reasons), `reasons logged: ${JSON.stringify(reasons)}`);
});

test('ID token with a broken signature is refused (error page, no session)', { timeout: 60_000 }, async (t) => {
  const { res, reasons } = await loginWithFault('id_token_bad_signature');
  t.diagnostic(`status ${res.status}, reasons ${JSON.stringify(reasons)}`);
  // A provider answer the Worker cannot accept: 502, with the rule that failed named.
  assertErrorPage(res, 502);
  assert.ok(res.text.includes('id_token_signature'), 'the page names the reason code');
  assert.ok(reasons.includes('id_token_signature'), `reasons logged: ${JSON.stringify(reasons)}`);
});

test('worker logs never contain the client secret, codes or tokens', () => {
  stack.assertLogsClean();
});
