// Happy path: login, profile page, logout. Worker on 8801, provider on 9401.
import { strict as assert } from 'node:assert';
import { after, before, test } from 'node:test';

import { DEMO_USER } from '../provider/provider.mjs';
import {
  LOGIN_COOKIE,
  SESSION_COOKIE,
  assertSecurityHeaders,
  claimsTable,
  isClearing,
  isProfile,
  isSignedOut,
  samePost,
  setCookieFor,
  startStack,
  textOf,
} from './harness.mjs';

let stack;
let firstBrowser;

before(async () => {
  stack = await startStack({ workerPort: 8801, providerPort: 9401 });
}, { timeout: 180_000 });

after(async () => {
  await stack?.stop();
});

function assertHostCookie(cookie, name) {
  assert.ok(cookie, `expected a Set-Cookie for ${name}`);
  assert.ok(cookie.attrs.httponly, `${name} must be HttpOnly`);
  assert.ok(cookie.attrs.secure, `${name} must be Secure`);
  assert.equal(String(cookie.attrs.samesite).toLowerCase(), 'lax', `${name} must be SameSite=Lax`);
  assert.equal(cookie.attrs.path, '/', `${name} must have Path=/`);
  assert.equal(cookie.attrs.domain, undefined, `${name} (a __Host- cookie) must not have a Domain`);
}

test('full login ends on the profile page with the demo user\'s claims and userinfo', { timeout: 60_000 }, async () => {
  const sessionsBefore = await stack.sessionCount();
  const tokenCallsBefore = stack.provider.stats.token;
  const jwksCallsBefore = stack.provider.stats.jwks;

  const browser = stack.newBrowser();
  const r = await stack.login(browser);
  firstBrowser = browser;

  // GET /login
  const q = r.authorizeUrl.searchParams;
  assert.equal(q.get('response_type'), 'code');
  assert.equal(q.get('client_id'), 'e2e-client');
  assert.equal(q.get('redirect_uri'), stack.redirectUri);
  assert.ok(q.get('scope').split(' ').includes('openid'), `scope: ${q.get('scope')}`);
  assert.ok(q.get('state') && q.get('state').length >= 16, 'state should be long and random');
  assert.ok(q.get('nonce') && q.get('nonce').length >= 16, 'nonce should be long and random');
  assert.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/, 'S256 code_challenge is 43 base64url chars');
  assert.equal(q.get('code_challenge_method'), 'S256');
  assertHostCookie(setCookieFor(r.loginResponse, LOGIN_COOKIE), LOGIN_COOKIE);
  assert.ok(r.sawLoginForm, 'a fresh browser should have seen the provider login form');
  assert.equal(r.state, q.get('state'), 'provider returns the state it was given');

  // callback
  const session = setCookieFor(r.callback, SESSION_COOKIE);
  assertHostCookie(session, SESSION_COOKIE);
  assert.ok(session.value.length >= 16, 'session cookie has a value');
  assert.ok(isClearing(setCookieFor(r.callback, LOGIN_COOKIE)), `callback should clear ${LOGIN_COOKIE}`);
  assert.equal(browser.jar.get('localhost', LOGIN_COOKIE), null, 'login cookie gone from the browser');

  // token endpoint: one call, HTTP Basic client auth; ID token verified with the JWKS
  assert.equal(stack.provider.stats.token - tokenCallsBefore, 1, 'exactly one token request');
  assert.equal(stack.provider.stats.lastTokenRequest.clientAuth, 'basic', 'worker authenticates with client_secret_basic');
  assert.ok(stack.provider.stats.jwks - jwksCallsBefore >= 1, 'worker fetched the JWKS to verify the ID token');

  // profile page
  const { home } = r;
  assert.equal(home.status, 200);
  assert.match(home.headers.get('content-type') || '', /text\/html/);
  assert.match(home.headers.get('cache-control') || '', /no-store/, 'profile page must be Cache-Control: no-store');
  assertSecurityHeaders(home, 'profile page');
  assert.ok(!home.text.includes('Sign in with Webex'), 'profile page should not offer sign-in');

  const idClaims = claimsTable(home.text, 'id-token-claims');
  assert.ok(idClaims, 'element #id-token-claims exists');
  assert.equal(idClaims.get('sub'), DEMO_USER.sub);
  assert.equal(idClaims.get('email'), DEMO_USER.email);
  assert.equal(idClaims.get('email_verified'), 'true');
  assert.equal(idClaims.get('iss'), stack.provider.issuer);
  assert.equal(idClaims.get('aud'), 'e2e-client');
  for (const name of ['exp', 'iat']) assert.ok(idClaims.has(name), `ID token claim ${name} shown`);

  const userinfo = claimsTable(home.text, 'userinfo');
  assert.ok(userinfo, 'element #userinfo exists');
  assert.equal(userinfo.get('sub'), DEMO_USER.sub);
  assert.equal(userinfo.get('email'), DEMO_USER.email);
  assert.equal(userinfo.get('email_verified'), 'true', 'userinfo email_verified (the string "true") shown as true');
  assert.equal(userinfo.get('name'), DEMO_USER.name);
  assert.equal(userinfo.get('given_name'), DEMO_USER.given_name);
  assert.equal(userinfo.get('family_name'), DEMO_USER.family_name);
  assert.equal(userinfo.get('locale'), DEMO_USER.locale);

  const text = textOf(home.text);
  assert.ok(text.includes(DEMO_USER.email) && text.includes(DEMO_USER.name) && text.includes(DEMO_USER.sub));
  assert.match(home.text, /<form\b[^>]*\bmethod\s*=\s*["']?post["']?[^>]*\baction\s*=\s*["']?\/logout["']?|<form\b[^>]*\baction\s*=\s*["']?\/logout["']?[^>]*\bmethod\s*=\s*["']?post/i,
    'profile page has <form method="post" action="/logout">');
  assert.match(text, /Sign out/);

  // no token material in the page or the cookie
  const s = stack.secretsSeen();
  for (const t of [...s.accessTokens, ...s.refreshTokens, ...s.idTokens]) {
    assert.ok(!home.text.includes(t), 'profile page must not contain raw tokens');
    assert.ok(!session.value.includes(t.slice(0, 20)), 'session cookie must not carry tokens');
  }
  // the client secret in no page, no cookie, no redirect of the whole login (the Worker's
  // output is checked when the stack stops)
  for (const [label, res] of [['GET /login', r.loginResponse], ['callback', r.callback], ['profile page', home]]) {
    assert.ok(!res.text.includes(stack.clientSecret) && !textOf(res.text).includes(stack.clientSecret), `${label}: client secret in the body`);
    assert.ok(!res.setCookies.join('\n').includes(stack.clientSecret), `${label}: client secret in a cookie`);
    assert.ok(!String(res.rawLocation).includes(stack.clientSecret), `${label}: client secret in the Location`);
  }

  assert.equal(await stack.sessionCount(), sessionsBefore + 1, 'exactly one new session in KV');
});

test('signed-out home page offers Sign in with Webex', async () => {
  const home = await stack.newBrowser().request(stack.url('/'));
  assert.equal(home.status, 200);
  assert.match(home.headers.get('content-type') || '', /text\/html/);
  assert.match(home.text, /Sign in with Webex/);
  assert.match(home.text, /href\s*=\s*["']?\/login["'\s>]/, 'link to /login');
  assertSecurityHeaders(home, 'signed-out page');
});

test('a second login in the same provider session skips the login form and starts a new session', { timeout: 60_000 }, async () => {
  assert.ok(firstBrowser, 'needs the first test');
  const before = await stack.sessionCount();
  const r = await stack.login(firstBrowser);
  assert.equal(r.sawLoginForm, false, 'provider session is reused');
  assert.equal(r.home.status, 200);
  assert.ok(claimsTable(r.home.text, 'userinfo'), 'profile page shown');
  // the new session replaces the old one, whose record the callback deletes
  assert.equal(await stack.sessionCount(), before, 'the replaced session\'s record is deleted');
});

test('POST /logout deletes the KV session, clears the cookie, lands on "You are signed out"; the old cookie is dead, a cross-site logout and GET /logout are refused; no session is left in KV', { timeout: 60_000 }, async () => {
  const browser = stack.newBrowser();
  await stack.login(browser);
  const stolen = browser.clone(); // a copy of the session cookie taken before logout
  const keysBefore = await stack.sessionKeys();

  const crossSite = await browser.request(stack.url('/logout'), {
    method: 'POST',
    headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' },
    body: '',
  });
  assert.equal(crossSite.status, 403, `cross-site POST /logout: ${crossSite.status}`);
  assert.ok(isProfile(await browser.request(stack.url('/'))), 'a refused logout leaves the session alone');

  const out = await samePost(stack, browser, '/logout');
  assert.equal(out.status, 302, `POST /logout: ${out.status} ${textOf(out.text).slice(0, 300)}`);
  assert.equal(out.rawLocation, '/?signed_out');
  assert.ok(isClearing(setCookieFor(out, SESSION_COOKIE)), `logout must clear ${SESSION_COOKIE}`);
  assert.equal(browser.jar.get('localhost', SESSION_COOKIE), null);

  const keysAfter = await stack.sessionKeys();
  assert.equal(keysAfter.length, keysBefore.length - 1, 'logout removed exactly one session record');
  assert.ok(keysAfter.every((k) => keysBefore.includes(k)), 'and added none');

  const landing = await browser.request(out.location);
  assert.equal(landing.status, 200);
  assert.match(textOf(landing.text), /You are signed out/);
  assert.ok(isSignedOut(landing), 'the landing page is the signed-out page');
  assert.ok(isSignedOut(await browser.request(stack.url('/'))), '/ is signed out');

  // the server-side session is gone: replaying the old cookie shows the signed-out page
  assert.ok(isSignedOut(await stolen.request(stack.url('/'))), 'old session cookie must not work after logout');

  const get = await browser.request(stack.url('/logout'));
  assert.equal(get.status, 405, 'GET /logout is 405');

  // log out the remaining browsers of this file; then no session key may remain
  if (firstBrowser) {
    const o = await stack.logout(firstBrowser);
    assert.equal(o.status, 302);
  }
  assert.deepEqual(await stack.sessionKeys(), [], 'no session key left in KV after everyone logged out');
});
