// What an attacker on the open internet would try, against the real runtime: cookies tossed
// from a sibling subdomain (raw header bytes, duplicates), a logout raced by a refresh in
// flight, two refreshes of one session at once against a provider that revokes the grant on
// refresh token reuse, and error text planted in a link to the callback.
// Worker on 8831, oidc-provider on 9431.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import { after, before, test } from 'node:test';

import {
  LOGIN_COOKIE,
  SESSION_COOKIE,
  isClearing,
  isProfile,
  isSignedOut,
  logLineFor,
  newRequestId,
  samePost,
  setCookieFor,
  sleep,
  startStack,
  tagged,
  textOf,
} from './harness.mjs';

let stack;

before(async () => {
  stack = await startStack({ workerPort: 8831, providerPort: 9431 });
}, { timeout: 180_000 });

after(async () => {
  await stack?.stop();
});

/** A string whose Latin-1 encoding is the UTF-8 encoding of `s`: node:http writes header
 *  values as Latin-1, so this puts the UTF-8 bytes of `s` on the wire as they are. */
const rawUtf8 = (s) => Buffer.from(s, 'utf8').toString('latin1');

/** GET with exactly this Cookie header (given as Latin-1 text, i.e. raw bytes). */
function rawRequest(path, cookieHeader, method = 'GET') {
  return new Promise((resolve, reject) => {
    const requestId = newRequestId();
    const headers = { cookie: cookieHeader, accept: 'text/html', 'cf-ray': requestId };
    if (method === 'POST') {
      Object.assign(headers, { origin: stack.workerOrigin, 'sec-fetch-site': 'same-origin', 'content-length': '0' });
    }
    const req = http.request(stack.url(path), { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        // Recorded like the harness's browsers, for the one-log-line-per-response check.
        stack.workerResponses.push({
          method,
          route: new URL(stack.url(path)).pathname,
          status: res.statusCode,
          fromWorker: Boolean(res.headers['content-security-policy']),
        });
        resolve({
          requestId, method, url: path, status: res.statusCode, headers: res.headers, text, setCookies: res.headers['set-cookie'] || [],
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The reason code the Worker logged for exactly this response (found by its request id: a
 *  line logged after a mark may still belong to an earlier request). */
async function reasonOf(response) {
  return (await logLineFor(stack, response)).reason;
}

async function sessionCookieOf(browser) {
  await stack.login(browser);
  return `${SESSION_COOKIE}=${browser.jar.get('localhost', SESSION_COOKIE).value}`;
}

const LOOKALIKES = ['\u2000', '\u00a0', '\u3000', '\ufeff'];

test('a session cookie tossed under a look-alike name (raw UTF-8 bytes) is not ours', { timeout: 90_000 }, async () => {
  const attacker = await sessionCookieOf(stack.newBrowser());
  const genuine = await sessionCookieOf(stack.newBrowser());
  for (const lead of LOOKALIKES) {
    const label = `U+${lead.codePointAt(0).toString(16).toUpperCase()}`;
    // Session fixation: only the planted cookie.
    let res = await rawRequest('/', rawUtf8(`${lead}${attacker}`));
    assert.ok(isSignedOut(res), `${label}: the planted session is not used (${res.status})`);
    assert.equal(await reasonOf(res), 'signed_out', label);
    assert.deepEqual(res.setCookies, [], `${label}: nothing cleared`);
    // Forced sign-out: junk under the look-alike name, sorted first.
    res = await rawRequest('/', rawUtf8(`${lead}${SESSION_COOKIE}=junk; ${genuine}`));
    assert.ok(isProfile(res), `${label}: the genuine session still works`);
    assert.equal(await reasonOf(res), 'profile', label);
    assert.deepEqual(res.setCookies, [], `${label}: the genuine cookie is not cleared`);
  }
});

test('a duplicated session cookie signs out without clearing anything; logout ends both', { timeout: 90_000 }, async () => {
  const attacker = await sessionCookieOf(stack.newBrowser());
  const genuine = await sessionCookieOf(stack.newBrowser());
  for (const header of [`${genuine}; ${attacker}`, `${attacker}; ${genuine}`, `${attacker}; x=1; ${genuine}`]) {
    for (const path of ['/', '/me']) {
      const res = await rawRequest(path, header);
      assert.ok(path === '/' ? isSignedOut(res) : res.status === 401, `${path} ${header.slice(0, 40)}: ${res.status}`);
      assert.equal(await reasonOf(res), 'session_cookie_ambiguous');
      assert.deepEqual(res.setCookies, [], 'no cookie cleared: ours cannot be told apart');
    }
  }
  assert.ok(isProfile(await rawRequest('/', genuine)), 'the genuine cookie alone still works');
  const out = await rawRequest('/logout', `${attacker}; ${genuine}`, 'POST');
  assert.equal(out.status, 302);
  for (const cookie of [attacker, genuine]) {
    assert.ok(isSignedOut(await rawRequest('/', cookie)), 'both sessions ended');
  }
});

test('a login cookie planted under a look-alike name cannot finish the attacker\'s login (login CSRF)', { timeout: 90_000 }, async () => {
  const attackerBrowser = stack.newBrowser();
  const { callbackUrl } = await stack.beginLogin(attackerBrowser);
  const planted = `${LOGIN_COOKIE}=${attackerBrowser.jar.get('localhost', LOGIN_COOKIE).value}`;
  const path = new URL(callbackUrl).pathname + new URL(callbackUrl).search;
  const sessionsBefore = await stack.sessionCount();
  const res = await rawRequest(path, rawUtf8(`\u2000${planted}`));
  assert.equal(res.status, 400);
  assert.equal(await reasonOf(res), 'login_cookie_missing');
  assert.ok(!res.setCookies.some((c) => c.startsWith(`${SESSION_COOKIE}=`) && !c.startsWith(`${SESSION_COOKIE}=;`)));
  assert.equal(await stack.sessionCount(), sessionsBefore, 'no session created');
  // The same login cookie duplicated under our exact name: fails closed, deletes nothing.
  const loginsBefore = (await stack.kvKeys()).filter((k) => k.startsWith('login:')).length;
  const dup = await rawRequest(path, `${planted}; ${LOGIN_COOKIE}=${'A'.repeat(43)}`);
  assert.equal(dup.status, 400);
  assert.equal(await reasonOf(dup), 'login_cookie_ambiguous');
  assert.deepEqual(dup.setCookies, []);
  assert.equal((await stack.kvKeys()).filter((k) => k.startsWith('login:')).length, loginsBefore, 'the login record is kept');
});

test('a logout while a refresh waits on a slow userinfo sticks', { timeout: 90_000 }, async () => {
  const keysBefore = await stack.sessionKeys();
  const browser = stack.newBrowser();
  await stack.login(browser);
  const stolen = browser.clone(); // someone holding a copy of the cookie
  stack.provider.setDelay('userinfo', 2_000);
  let refresh;
  try {
    const inFlight = samePost(stack, stolen, '/refresh');
    await sleep(700); // the refresh has read the session and waits on userinfo
    const out = await samePost(stack, browser, '/logout');
    assert.equal(out.status, 302, 'logout answered');
    refresh = await inFlight;
  } finally {
    stack.provider.setDelay('userinfo', 0);
  }
  assert.equal(refresh.status, 302);
  assert.ok(isClearing(setCookieFor(refresh, SESSION_COOKIE)), 'the refresh found the session ended');
  assert.ok(isSignedOut(await stolen.request(stack.url('/'))), 'the old cookie is signed out');
  assert.deepEqual(await stack.sessionKeys(), keysBefore, 'the session record was not written back');
  const me = await stolen.request(stack.url('/me'));
  assert.equal(me.status, 401);
});

test('two refreshes of one session at once present the refresh token once; the session goes on', { timeout: 90_000 }, async () => {
  const op = stack.provider;
  op.setAccessTokenTtl(30); // counts as expiring: every refresh uses the refresh grant
  op.setRotateRefreshToken(true); // and oidc-provider revokes the grant when a spent one comes back
  try {
    const browser = stack.newBrowser();
    await stack.login(browser);
    const grants = op.stats.refreshGrants;
    op.setDelay('token', 800); // both requests are in flight together
    let first;
    let second;
    try {
      [first, second] = await Promise.all([samePost(stack, browser, '/refresh'), samePost(stack, browser.clone(), '/refresh')]);
    } finally {
      op.setDelay('token', 0);
    }
    assert.deepEqual([first.status, second.status], [302, 302], `${textOf(first.text)} ${textOf(second.text)}`);
    assert.equal(op.stats.refreshGrants, grants + 1, 'one refresh grant for both');
    assert.ok(isProfile(await browser.request(stack.url('/'))), 'still signed in');
    const third = await samePost(stack, browser, '/refresh');
    assert.equal(third.status, 302);
    assert.equal(op.stats.refreshGrantsOk, op.stats.refreshGrants, 'every grant succeeded: the stored token is the live one');
    assert.ok(isProfile(await browser.request(stack.url('/'))), 'still signed in after the next refresh');
  } finally {
    op.setAccessTokenTtl(null);
    op.setRotateRefreshToken(null);
  }
});

test('error text planted in a link to the callback is not shown, and deletes nothing', { timeout: 60_000 }, async () => {
  const victim = stack.newBrowser();
  const { state } = await stack.beginLogin(victim);
  const loginsBefore = (await stack.kvKeys()).filter((k) => k.startsWith('login:')).length;
  const planted = 'Your account is locked. Call support at +1 555 0100';
  for (const params of [
    { error: 'access_denied', error_description: planted },
    { error: 'access_denied', error_description: planted, state },
    { error: `Call +1 555 0100`, state },
  ]) {
    const u = new URL(stack.redirectUri);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const res = await tagged(stack, stack.newBrowser(), u.pathname + u.search); // a browser that started no login
    assert.equal(res.status, 400);
    assert.equal(await reasonOf(res), 'provider_error');
    assert.ok(!textOf(res.text).includes('555'), `planted text shown: ${textOf(res.text)}`);
    assert.match(res.text, /Start again/);
  }
  assert.equal((await stack.kvKeys()).filter((k) => k.startsWith('login:')).length, loginsBefore,
    'no login record deleted by someone else\'s callback');

  // The browser's own login: the provider's words are shown, without invisible formatting.
  const u = new URL(stack.redirectUri);
  u.searchParams.set('error', 'access_denied');
  u.searchParams.set('error_description', 'Denied by \u202egnp.exe\u202c policy\u200b.');
  u.searchParams.set('state', state);
  const res = await victim.request(u.href);
  assert.equal(res.status, 400);
  assert.ok(textOf(res.text).includes('Denied by gnp.exe policy.'), textOf(res.text));
  assert.ok(!/[\u202a-\u202e\u200b]/.test(res.text), 'no bidi override or zero-width character');
});
