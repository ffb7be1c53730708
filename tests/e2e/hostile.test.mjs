// Hostile input from the browser side and from the provider: oversized cookies and query
// strings, repeated and badly encoded callback parameters, markup and unicode in every claim,
// HTML in the provider's error_description. Worker on 8816, rogue provider on 9416.
import { strict as assert } from 'node:assert';
import { after, afterEach, before, test } from 'node:test';

import { HOSTILE_TEXT } from '../provider/rogue.mjs';
import {
  Browser,
  LOGIN_COOKIE,
  SESSION_COOKIE,
  assertRefusedCallback,
  assertSecurityHeaders,
  claimsTable,
  elementById,
  fromWorker,
  setCookieFor,
  startStack,
  tagged,
  textOf,
} from './harness.mjs';

let stack;
let op;

before(async () => {
  stack = await startStack({ workerPort: 8816, providerPort: 9416, provider: 'rogue' });
  op = stack.provider;
}, { timeout: 180_000 });

afterEach(() => {
  op?.setCase('normal');
});

after(async () => {
  await stack?.stop();
});

/** A clear answer: no 5xx (neither a Worker error nor a crash), no session cookie with a value. */
function assertClearAnswer(res, label) {
  assert.ok(res.status < 500, `${label}: ${res.status} ${fromWorker(res) ? '(Worker)' : '(not from the Worker)'}: ${textOf(res.text).slice(0, 300)}`);
  const sc = setCookieFor(res, SESSION_COOKIE);
  assert.ok(!sc || sc.value === '', `${label}: no session cookie`);
}

/** The Worker still answers normally. */
async function assertStillWorks() {
  const home = await stack.newBrowser().request(stack.url('/'));
  assert.equal(home.status, 200, 'GET / after the hostile request');
  assert.match(home.text, /Sign in with Webex/);
}

// ---------------------------------------------------------------------------------------------
// Oversized cookies

test('a 20 kB Cookie header on GET / gets a clear answer and no session', { timeout: 60_000 }, async (t) => {
  const variants = {
    'one 20 kB junk cookie': `junk=${'a'.repeat(20_000)}`,
    'a 20 kB session cookie': `${SESSION_COOKIE}=${'A'.repeat(20_000)}`,
    '400 small cookies': Array.from({ length: 400 }, (_, i) => `c${i}=${'v'.repeat(44)}`).join('; '),
  };
  for (const [label, cookie] of Object.entries(variants)) {
    const res = await stack.newBrowser().request(stack.url('/'), { headers: { cookie } });
    t.diagnostic(`${label}: ${res.status}${fromWorker(res) ? ' from the Worker' : ' from workerd'}`);
    assertClearAnswer(res, label);
    if (fromWorker(res)) {
      assert.equal(res.status, 200);
      assert.match(res.text, /Sign in with Webex/, `${label}: signed-out page`);
      assert.ok(!res.text.includes('id="userinfo"'));
    }
    await assertStillWorks();
  }
});

test('a 20 kB Cookie header on /oauth gets a clear answer and no session', { timeout: 60_000 }, async (t) => {
  const tokenCalls = op.stats.token;
  // no login cookie, 20 kB of junk
  let browser = stack.newBrowser();
  let { callbackUrl } = await stack.beginLogin(browser);
  let res = await stack.newBrowser().request(callbackUrl, { headers: { cookie: `junk=${'a'.repeat(20_000)}` } });
  t.diagnostic(`junk cookie: ${res.status}${fromWorker(res) ? ' from the Worker' : ' from workerd'}`);
  assertClearAnswer(res, '/oauth with a 20 kB junk cookie');
  if (fromWorker(res)) assert.equal(res.status, 400);

  // the login cookie itself is 20 kB (and so not the one /login set)
  browser = stack.newBrowser();
  ({ callbackUrl } = await stack.beginLogin(browser));
  res = await stack.newBrowser().request(callbackUrl, { headers: { cookie: `${LOGIN_COOKIE}=${'B'.repeat(20_000)}` } });
  t.diagnostic(`20 kB login cookie: ${res.status}${fromWorker(res) ? ' from the Worker' : ' from workerd'}`);
  assertClearAnswer(res, '/oauth with a 20 kB login cookie');
  if (fromWorker(res)) assert.equal(res.status, 400);

  assert.equal(op.stats.token, tokenCalls, 'no code was redeemed');
  assert.equal(await stack.sessionCount(), 0, 'no session in KV');
  await assertStillWorks();
});

// ---------------------------------------------------------------------------------------------
// Callback parameters

test('duplicated state in the callback -> 400 callback_duplicate_param', { timeout: 60_000 }, async () => {
  const tokenCalls = op.stats.token;
  const browser = stack.newBrowser();
  const { callbackUrl, state } = await stack.beginLogin(browser);
  const res = await stack.completeLogin(browser, `${callbackUrl}&state=${encodeURIComponent(state)}`);
  await assertRefusedCallback(stack, browser, res, { status: 400, reason: 'callback_duplicate_param' });
  assert.equal(op.stats.token, tokenCalls, 'no code was redeemed');
});

test('duplicated code in the callback -> 400 callback_duplicate_param', { timeout: 60_000 }, async () => {
  const tokenCalls = op.stats.token;
  const browser = stack.newBrowser();
  const { callbackUrl, code } = await stack.beginLogin(browser);
  const res = await stack.completeLogin(browser, `${callbackUrl}&code=${encodeURIComponent(code)}x`);
  await assertRefusedCallback(stack, browser, res, { status: 400, reason: 'callback_duplicate_param' });
  assert.equal(op.stats.token, tokenCalls, 'no code was redeemed');
});

test('percent-encoding that is not UTF-8 (state=%FF%FE) -> 400 state_unknown, or login_cookie_missing without a login', { timeout: 60_000 }, async () => {
  const tokenCalls = op.stats.token;
  const browser = stack.newBrowser();
  const { code } = await stack.beginLogin(browser); // the browser holds a real login cookie
  const res = await stack.completeLogin(browser, `${stack.redirectUri}?code=${encodeURIComponent(code)}&state=%FF%FE`);
  // decoded with replacement characters: a state no login has
  await assertRefusedCallback(stack, browser, res, { status: 400, reason: 'state_unknown' });
  assert.equal(op.stats.token, tokenCalls, 'no code was redeemed');

  // a browser that started no login: refused before the state is looked at
  const res2 = await stack.completeLogin(stack.newBrowser(), `${stack.redirectUri}?code=%C3%28&state=%FF%FE%00`);
  await assertRefusedCallback(stack, stack.newBrowser(), res2, { status: 400, reason: 'login_cookie_missing' });
});

test('a 100 kB query string on /oauth: workerd refuses it (431); 10 kB reaches the Worker, which refuses it', { timeout: 60_000 }, async (t) => {
  // The Worker's own limits (2 kB per parameter) are tested with what reaches it; what the
  // runtime refuses first (its request-line limit) never runs the Worker, so it is sent with
  // a browser that is not recorded for the one-log-line-per-response check.
  const variants = {
    'code of 10 kB': [`code=${'a'.repeat(10_000)}&state=x`, 'callback_param_too_long'],
    'code of 100 kB': [`code=${'a'.repeat(100_000)}&state=x`, 431],
    '100 kB of parameters': [Array.from({ length: 10_000 }, (_, i) => `p${i}=${i}`).join('&').slice(0, 100_000), 431],
  };
  for (const [label, [query, expected]] of Object.entries(variants)) {
    const browser = stack.newBrowser();
    await browser.request(stack.url('/login')); // a login cookie, as a real browser would have
    if (typeof expected === 'string') {
      const res = await tagged(stack, browser, `/oauth?${query}`);
      assert.ok(fromWorker(res), `${label}: answered by the Worker (${res.status})`);
      await assertRefusedCallback(stack, browser, res, { status: 400, reason: expected });
      assert.ok(!stack.logs().includes('a'.repeat(1000)), `${label}: the long query is not logged`);
    } else {
      const res = await new Browser(browser.jar.clone()).request(`${stack.redirectUri}?${query}`);
      t.diagnostic(`${label}: ${res.status} from workerd, before the Worker runs`);
      assert.ok(!fromWorker(res), `${label}: refused by the runtime`);
      assert.equal(res.status, expected);
    }
    await assertStillWorks();
  }
  assert.equal(await stack.sessionCount(), 0, 'no session in KV');
});

// ---------------------------------------------------------------------------------------------
// Hostile values from the provider

test('markup and unicode in every claim and userinfo value: accepted and shown as escaped text', { timeout: 60_000 }, async () => {
  op.setCase('hostile_claims');
  const browser = stack.newBrowser();
  const { home } = await stack.login(browser);
  op.setCase('normal');
  assert.equal(home.status, 200);
  assertSecurityHeaders(home, 'profile page');
  const html = home.text;
  assert.ok(!/<script\b/i.test(html), 'no <script> element in the page');
  assert.ok(!/<img\b/i.test(html), 'no <img> element in the page');
  assert.ok(!/\bhref\s*=\s*["']?\s*javascript:/i.test(html), 'no javascript: link');
  assert.ok(!/<[^>]*\son[a-z]+\s*=/i.test(html), 'no event handler attribute in any tag');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the markup is escaped');
  assert.ok(textOf(html).includes(HOSTILE_TEXT), 'the decoded text contains the original string');

  const userinfo = claimsTable(html, 'userinfo');
  for (const field of ['sub', 'name', 'given_name', 'family_name', 'email', 'locale']) {
    assert.equal(userinfo.get(field), HOSTILE_TEXT, `userinfo ${field}`);
  }
  assert.equal(userinfo.get('<img src=x onerror=alert(1)>'), HOSTILE_TEXT, 'a field name with markup, shown as text');
  const idClaims = claimsTable(html, 'id-token-claims');
  for (const claim of ['sub', 'email', 'name', `${HOSTILE_TEXT} claim`]) {
    assert.equal(idClaims.get(claim), HOSTILE_TEXT, `ID token claim ${claim}`);
  }
  assert.ok(textOf(elementById(html, 'id-token-claims')).includes('Zoë 🚀'), 'nested values shown');
  assert.ok(textOf(html).includes(`Hello, ${HOSTILE_TEXT}`), 'the greeting uses the hostile name, as text');
  await stack.logout(browser);
});

test('provider error_description full of HTML -> 400 page with it escaped and truncated', { timeout: 60_000 }, async () => {
  const browser = stack.newBrowser();
  const { state } = await stack.beginLogin(browser);
  const description = '<b>x</b>'.repeat(125); // 1000 characters
  const u = new URL(stack.redirectUri);
  u.searchParams.set('error', 'access_denied');
  u.searchParams.set('error_description', description);
  u.searchParams.set('state', state);
  const res = await stack.completeLogin(browser, u.href);
  await assertRefusedCallback(stack, browser, res, { status: 400, reason: 'provider_error' });
  assert.ok(!/<b>/i.test(res.text), 'no <b> element: the description is escaped');
  assert.ok(res.text.includes('&lt;b&gt;x&lt;/b&gt;'), 'the description is shown escaped');
  const text = textOf(res.text);
  const copies = text.split('<b>x</b>').length - 1;
  assert.ok(copies >= 1 && copies <= 300 / 8,
    `the description is shown truncated to about 300 characters (${copies} of 125 copies of <b>x</b> shown)`);
  assert.ok(!text.includes(description), 'not shown in full');
});
