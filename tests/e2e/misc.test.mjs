// Routing, /login details, headers, logout edge cases. Worker on 8804, provider on 9404.
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';

import {
  LOGIN_COOKIE,
  SESSION_COOKIE,
  ROOT,
  assertRefusedCallback,
  assertSecurityHeaders,
  setCookieFor,
  startStack,
  tagged,
  textOf,
} from './harness.mjs';

let stack;

before(async () => {
  stack = await startStack({ workerPort: 8804, providerPort: 9404 });
}, { timeout: 180_000 });

after(async () => {
  await stack?.stop();
});

test('the exact Content-Security-Policy and X-Frame-Options on every kind of response', { timeout: 60_000 }, async () => {
  const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
  const browser = stack.newBrowser();
  const kinds = {
    'signed-out page': await browser.request(stack.url('/')),
    redirect: await browser.request(stack.url('/login')),
    'JSON (401)': await browser.request(stack.url('/me')),
    '404 page': await browser.request(stack.url('/nowhere')),
    '405 page': await browser.request(stack.url('/'), { method: 'PUT' }),
    'error page': await browser.request(stack.url('/oauth?state=x&code=y')),
  };
  for (const [kind, res] of Object.entries(kinds)) {
    assert.equal(res.headers.get('content-security-policy'), csp, `${kind}: CSP`);
    assert.equal(res.headers.get('x-frame-options'), 'DENY', `${kind}: X-Frame-Options`);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${kind}`);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer', `${kind}`);
  }
  assert.equal(kinds.redirect.status, 302);
  assert.equal(kinds['JSON (401)'].status, 401);
});

test('every page links the stylesheet by its hash; it is served as the file, cached for good', { timeout: 60_000 }, async () => {
  // The hash computed here, from the file, independently of the Worker's code.
  const css = fs.readFileSync(path.join(ROOT, 'src', 'pages', 'style.css'));
  const hash = crypto.createHash('sha256').update(css).digest('base64');
  const browser = stack.newBrowser();
  const hrefs = new Set();
  for (const p of ['/', '/nowhere', '/oauth?state=x&code=y']) {
    const page = await browser.request(stack.url(p));
    const link = /<link rel="stylesheet" href="([^"]+)" integrity="sha256-([^"]+)">/.exec(page.text);
    assert.ok(link, `${p}: links the stylesheet`);
    assert.equal(link[2], hash, `${p}: integrity is the file's SHA-256`);
    assert.ok(!/<style/i.test(page.text), `${p}: nothing inline`);
    hrefs.add(link[1]);
  }
  assert.equal(hrefs.size, 1, 'one URL for the stylesheet');
  const [href] = hrefs;
  assert.match(href, /^\/style\.css\?v=[A-Za-z0-9_-]{12,}$/);
  const res = await stack.newBrowser().request(stack.url(href));
  assert.equal(res.status, 200);
  assert.equal(res.text, css.toString('utf8'));
  assert.equal(res.headers.get('content-type'), 'text/css; charset=utf-8');
  assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('set-cookie'), null);
});

test('unknown path -> 404 HTML page with security headers', async () => {
  const res = await stack.newBrowser().request(stack.url('/no/such/page'));
  assert.equal(res.status, 404);
  assert.match(res.headers.get('content-type') || '', /text\/html/);
  assertSecurityHeaders(res, '404 page');
});

test('PUT / -> 405', async () => {
  const res = await stack.newBrowser().request(stack.url('/'), { method: 'PUT', body: 'x' });
  assert.equal(res.status, 405);
});

test('GET /login: redirect to the authorize endpoint with PKCE, fresh state/nonce each time, __Host- login cookie', async () => {
  const a = await stack.newBrowser().request(stack.url('/login'));
  const b = await stack.newBrowser().request(stack.url('/login'));
  for (const r of [a, b]) {
    assert.equal(r.status, 302);
    const u = new URL(r.location);
    assert.equal(`${u.origin}${u.pathname}`, `${stack.provider.url}/v1/authorize`);
    const q = u.searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), 'e2e-client');
    assert.equal(q.get('redirect_uri'), stack.redirectUri);
    assert.deepEqual(new Set(q.get('scope').split(' ')), new Set(['openid', 'email', 'profile']));
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
    for (const p of ['state', 'nonce']) assert.ok((q.get(p) || '').length >= 16, `${p} present and long`);
    const c = setCookieFor(r, LOGIN_COOKIE);
    assert.ok(c && c.value, 'login cookie set');
    assert.ok(c.attrs.httponly && c.attrs.secure, 'HttpOnly; Secure');
    assert.equal(String(c.attrs.samesite).toLowerCase(), 'lax');
    assert.equal(c.attrs.path, '/');
    assert.equal(c.attrs.domain, undefined);
    assert.equal(setCookieFor(r, SESSION_COOKIE), null, '/login does not set a session');
    // nothing secret in the URL
    assert.ok(!r.location.includes(stack.clientSecret), 'client secret not in the authorize URL');
  }
  const qa = new URL(a.location).searchParams;
  const qb = new URL(b.location).searchParams;
  for (const p of ['state', 'nonce', 'code_challenge']) assert.notEqual(qa.get(p), qb.get(p), `${p} differs per login`);
  assert.notEqual(setCookieFor(a, LOGIN_COOKIE).value, setCookieFor(b, LOGIN_COOKIE).value);
});

test('POST /logout without a session still ends on / signed out', async () => {
  const browser = stack.newBrowser();
  const res = await stack.logout(browser);
  assert.equal(res.status, 302);
  assert.equal(new URL(res.location).pathname, '/');
  const home = await browser.request(stack.url('/'));
  assert.match(home.text, /Sign in with Webex/);
});

test('POST /logout exactly as Chromium sends it from the profile page (Origin: null) signs out', { timeout: 60_000 }, async () => {
  // The Worker's pages carry Referrer-Policy: no-referrer, and for a non-GET request from such
  // a page the Fetch spec serialises the Origin header as "null". Chromium does this for the
  // same-origin "Sign out" form; Sec-Fetch-Site says same-origin.
  const browser = stack.newBrowser();
  await stack.login(browser);
  const res = await browser.request(stack.url('/logout'), {
    method: 'POST',
    headers: {
      origin: 'null',
      'sec-fetch-site': 'same-origin',
      'sec-fetch-mode': 'navigate',
      'sec-fetch-dest': 'document',
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: '',
  });
  assert.equal(res.status, 302, `POST /logout from a same-origin form: ${res.status} ${textOf(res.text).slice(0, 200)}`);
  const home = await browser.request(stack.url('/'));
  assert.match(home.text, /Sign in with Webex/);
  if (res.status !== 302) await stack.logout(browser); // clean up either way
});

test('a bogus callback without any login state -> 400 "Start again" page, login_cookie_missing in its log line; the code is not logged', async () => {
  const browser = stack.newBrowser();
  const res = await tagged(stack, browser, '/oauth?state=bogus&code=bogus');
  await assertRefusedCallback(stack, browser, res, { status: 400, reason: 'login_cookie_missing' });
  assert.ok(!stack.logs().includes('code=bogus'), 'the code is not logged');
});
