// Rejected callbacks: tampered/replayed state, missing cookie, provider errors, login CSRF.
// Worker on 8802, provider on 9402.
import { strict as assert } from 'node:assert';
import { after, before, test } from 'node:test';

import {
  LOGIN_COOKIE,
  assertRefusedCallback,
  isRedirect,
  startStack,
  tamperParam,
  textOf,
} from './harness.mjs';

let stack;

before(async () => {
  stack = await startStack({ workerPort: 8802, providerPort: 9402 });
}, { timeout: 180_000 });

after(async () => {
  await stack?.stop();
});

test('tampered state (one character changed) is rejected with 400 (state_unknown)', { timeout: 60_000 }, async () => {
  const sessionsBefore = await stack.sessionCount();
  const browser = stack.newBrowser();
  const { callbackUrl } = await stack.beginLogin(browser);
  const tokenCalls = stack.provider.stats.token;
  const res = await stack.completeLogin(browser, tamperParam(callbackUrl, 'state'));
  await assertRefusedCallback(stack, browser, res, { status: 400, reason: 'state_unknown', sessionsBefore });
  assert.equal(stack.provider.stats.token, tokenCalls, 'no code redemption for a bad state');
});

test('callback without the login cookie is rejected with 400 (login_cookie_missing)', { timeout: 60_000 }, async () => {
  const sessionsBefore = await stack.sessionCount();
  const browser = stack.newBrowser();
  const { callbackUrl } = await stack.beginLogin(browser);
  assert.ok(browser.jar.delete('localhost', LOGIN_COOKIE), 'login cookie was in the jar');
  const res = await stack.completeLogin(browser, callbackUrl);
  await assertRefusedCallback(stack, browser, res, { status: 400, reason: 'login_cookie_missing', sessionsBefore });
});

test('callback with missing code or state is rejected with 400 (callback_missing_param)', { timeout: 60_000 }, async () => {
  const browser = stack.newBrowser();
  const { callbackUrl, state } = await stack.beginLogin(browser);
  const noCode = new URL(stack.redirectUri);
  noCode.searchParams.set('state', state);
  let res = await stack.completeLogin(browser.clone(), noCode.href);
  await assertRefusedCallback(stack, browser.clone(), res, { status: 400, reason: 'callback_missing_param' });

  const noState = new URL(callbackUrl);
  noState.searchParams.delete('state');
  res = await stack.completeLogin(browser.clone(), noState.href);
  await assertRefusedCallback(stack, browser.clone(), res, { status: 400, reason: 'callback_missing_param' });

  res = await stack.completeLogin(browser.clone(), stack.redirectUri);
  await assertRefusedCallback(stack, browser.clone(), res, { status: 400, reason: 'callback_missing_param' });
});

test('callback carrying another browser\'s code and state (login CSRF) is rejected with 400 (state_mismatch)', { timeout: 60_000 }, async () => {
  const sessionsBefore = await stack.sessionCount();
  const attacker = stack.newBrowser();
  const victim = stack.newBrowser();
  const { callbackUrl: attackersCallback } = await stack.beginLogin(attacker);
  await victim.request(stack.url('/login')); // the victim has a login in progress of their own
  assert.ok(victim.jar.get('localhost', LOGIN_COOKIE), 'victim has a login cookie');
  const res = await stack.completeLogin(victim, attackersCallback);
  await assertRefusedCallback(stack, victim, res, { status: 400, reason: 'state_mismatch', sessionsBefore });
});

test('provider error=access_denied with the real state shows a friendly 400 page', { timeout: 60_000 }, async () => {
  const sessionsBefore = await stack.sessionCount();
  const browser = stack.newBrowser();
  const { loginResponse } = await stack.beginLogin(browser);
  const state = new URL(loginResponse.location).searchParams.get('state');
  const u = new URL(stack.redirectUri);
  u.searchParams.set('error', 'access_denied');
  u.searchParams.set('error_description', 'The user denied <script>alert(1)</script> access');
  u.searchParams.set('state', state);
  const res = await stack.completeLogin(browser, u.href);
  await assertRefusedCallback(stack, browser, res, { status: 400, reason: 'provider_error', sessionsBefore });
  assert.ok(!res.text.includes('<script>alert(1)</script>'), 'error_description must be escaped (or not shown)');
  assert.match(textOf(res.text), /denied|cancel|declin|did not|didn.t|not allowed|permission|access/i,
    'page explains that sign-in was declined');
});

test('user cancels on the provider\'s login page: provider redirects with access_denied -> 400', { timeout: 60_000 }, async () => {
  const browser = stack.newBrowser();
  const login = await browser.request(stack.url('/login'));
  let loc = login.location;
  let page;
  for (let i = 0; i < 5; i += 1) {
    page = await browser.request(loc);
    if (!isRedirect(page.status)) break;
    loc = page.location;
  }
  const abort = /href="([^"]*\/abort)"/.exec(page.text);
  assert.ok(abort, 'provider login page has a cancel link');
  loc = new URL(abort[1].replace(/&amp;/g, '&'), loc).href;
  for (let i = 0; i < 5 && !loc.startsWith(stack.redirectUri); i += 1) {
    const r = await browser.request(loc);
    assert.ok(isRedirect(r.status), `provider answered ${r.status} while cancelling`);
    loc = r.location;
  }
  const cb = new URL(loc);
  assert.equal(cb.searchParams.get('error'), 'access_denied');
  const res = await stack.completeLogin(browser, cb.href);
  await assertRefusedCallback(stack, browser, res, { status: 400, reason: 'provider_error' });
});

test('replayed callback URL is rejected with 400 (state_unknown) and creates no second session', { timeout: 60_000 }, async () => {
  const sessionsBefore = await stack.sessionCount();
  const browser = stack.newBrowser();
  const { callbackUrl } = await stack.beginLogin(browser);
  const copy = browser.clone(); // still holds the login cookie for this state

  const ok = await stack.completeLogin(browser, callbackUrl);
  assert.equal(ok.status, 302, `first use of the callback should succeed: ${textOf(ok.text).slice(0, 300)}`);
  assert.equal(await stack.sessionCount(), sessionsBefore + 1, 'one session after the login');
  assert.ok(copy.jar.get('localhost', LOGIN_COOKIE), 'the copy still has the login cookie');

  const tokenCalls = stack.provider.stats.token;
  const res = await stack.completeLogin(copy, callbackUrl);
  await assertRefusedCallback(stack, copy, res, { status: 400, reason: 'state_unknown' });
  assert.equal(stack.provider.stats.token, tokenCalls, 'the replayed code is not sent to the token endpoint');
  assert.equal(await stack.sessionCount(), sessionsBefore + 1, 'still exactly one session in KV');
  await stack.logout(browser);
});
