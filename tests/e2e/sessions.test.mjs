// Sessions end to end: sealed KV records, measured KV cost per login / page view / refresh,
// idle and absolute lifetimes, POST /refresh (with the refresh grant), GET /me, logout to
// WEBEX_LOGOUT_URL (the plain logout is flow.test.mjs's), deep links after login, logins in
// several tabs, and tampered session cookies.
//
// Stacks (worker / provider port):
//   8821 / 9421  defaults                               (most tests)
//   8822 / 9422  SESSION_IDLE_TIMEOUT 24, SESSION_TTL 40 (real waiting, about 45 s)
//   8823 / 9423  WEBEX_LOGOUT_URL, SESSION_TTL 2h, SESSION_IDLE_TIMEOUT 30m (suffixes)
//   8824 / 9424  provider restarted on the same port before a refresh
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';

import { DEMO_USER, startProvider } from '../provider/provider.mjs';
import {
  LOGIN_COOKIE,
  SESSION_COOKIE,
  isClearing,
  isProfile,
  isRedirect,
  isSignedOut,
  logLineFor,
  runWrangler,
  samePost,
  setCookieFor,
  sleep,
  ROOT,
  startStack,
  stopAll,
  tagged,
  textOf,
  withStack,
} from './harness.mjs';

const B64URL43 = /^[A-Za-z0-9_-]{43}$/;
const SESSION_VALUE = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/;
const LOGIN_VALUE = /^[A-Za-z0-9_-]{43}(\.[A-Za-z0-9_-]{43}){0,2}$/;
const DEFAULT_TTL = 8 * 3600;
const DEFAULT_IDLE = 3600;

let main; // 8821
let short; // 8822
let configured; // 8823
let restartable; // 8824
let restartedProvider = null; // the provider started again on 9424
const LOGOUT_URL = 'http://127.0.0.1:9423/some/logout';

/** What the tests measured, printed again at the end. */
const measured = {};

before(async () => {
  const started = await Promise.allSettled([
    startStack({ workerPort: 8821, providerPort: 9421 }),
    startStack({
      workerPort: 8823,
      providerPort: 9423,
      vars: { WEBEX_LOGOUT_URL: LOGOUT_URL, SESSION_TTL: '2h', SESSION_IDLE_TIMEOUT: '30m' },
    }),
    startStack({ workerPort: 8824, providerPort: 9424 }),
  ]);
  const failed = started.filter((s) => s.status === 'rejected');
  if (failed.length) {
    await Promise.all(started.filter((s) => s.status === 'fulfilled').map((s) => s.value.stop()));
    throw failed[0].reason;
  }
  [main, configured, restartable] = started.map((s) => s.value);
}, { timeout: 240_000 });

after(async () => {
  try {
    await stopAll(main, short, configured, restartable);
  } finally {
    await restartedProvider?.close();
  }
});

// ---------------------------------------------------------------------------------------------
// helpers

function report(t, line) {
  t.diagnostic(line);
}

async function kvGet(stack, key) {
  const { stdout } = await runWrangler([
    'kv', 'key', 'get', '--binding', 'AUTH_KV', '--local', '--persist-to', stack.persistDir, key,
  ]);
  return stdout.trim();
}

function sessionValue(browser) {
  return browser.jar.get('localhost', SESSION_COOKIE)?.value ?? null;
}

/** Request log lines after `mark`, once at least `n` of them are there. */
async function requestLinesSince(stack, mark, n, timeoutMs = 5_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const lines = stack.jsonLogs(mark).filter((o) => o.event === 'request');
    if (lines.length >= n) {
      await sleep(200); // anything late shows up too
      return stack.jsonLogs(mark).filter((o) => o.event === 'request');
    }
    if (Date.now() > end) throw new Error(`expected ${n} request log lines, got ${lines.length}`);
    await sleep(50);
  }
}

function kvUsage(lines) {
  return lines.reduce((acc, o) => ({
    reads: acc.reads + o.kv_reads,
    writes: acc.writes + o.kv_writes,
    subrequests: acc.subrequests + o.subrequests,
  }), { reads: 0, writes: 0, subrequests: 0 });
}

/**
 * GET `loginPath` (a /login URL, maybe with return_to) and follow the provider's redirects up
 * to the callback URL, without requesting it. The browser must already be signed in at the
 * provider (no login form).
 */
async function beginLoginAt(stack, browser, loginPath) {
  const start = await browser.request(stack.url(loginPath));
  assert.equal(start.status, 302, `GET ${loginPath}: ${start.status} ${textOf(start.text).slice(0, 300)}`);
  let loc = start.location;
  assert.ok(loc.startsWith(`${stack.provider.url}/v1/authorize?`), `GET ${loginPath} -> ${loc}`);
  for (let hop = 0; hop < 12; hop += 1) {
    if (loc.startsWith(`${stack.redirectUri}?`)) return loc;
    assert.ok(loc.startsWith(`${stack.provider.url}/`), `unexpected redirect during login: ${loc}`);
    const r = await browser.request(loc);
    assert.ok(isRedirect(r.status), `provider answered ${r.status} at ${loc} (expected an existing provider session)`);
    loc = r.location;
  }
  throw new Error('too many redirects');
}

/** Destroy, at the provider, the refresh token and the grant behind it. */
async function revokeAtProvider(op, refreshTokenValue) {
  const rt = await op.provider.RefreshToken.find(refreshTokenValue);
  assert.ok(rt, 'the provider knows the refresh token before revoking it');
  const grant = await op.provider.Grant.find(rt.grantId);
  await grant?.destroy();
  await rt.destroy();
}

function assertEndedByRefresh(res, label) {
  assert.equal(res.status, 401, `${label}: POST /refresh answered ${res.status}: ${textOf(res.text).slice(0, 300)}`);
  assert.match(res.headers.get('content-type') || '', /text\/html/, `${label}: an HTML page`);
  const text = textOf(res.text);
  assert.match(text, /Please sign in again/, `${label}: page says Please sign in again`);
  assert.match(text, /Start again/, `${label}: page offers Start again`);
  assert.ok(isClearing(setCookieFor(res, SESSION_COOKIE)), `${label}: the session cookie is cleared`);
}

// ---------------------------------------------------------------------------------------------
// KV cost

test('KV cost: a login <= 2 reads and <= 3 writes, a page view 1 read and 0 writes, a refresh measured', { timeout: 60_000 }, async (t) => {
  const browser = main.newBrowser();
  const mark = main.logMark();
  const r = await main.login(browser);
  assert.ok(isProfile(r.home), 'login ends on the profile');
  const lines = await requestLinesSince(main, mark, 3);
  const loginLines = lines.filter((o) => o.route === '/login' || o.route === '/oauth');
  assert.deepEqual(loginLines.map((o) => `${o.route} ${o.status}`), ['/login 302', '/oauth 302'], JSON.stringify(lines));
  const login = kvUsage(loginLines);
  report(t, `KV per login (fresh browser, /login + /oauth): ${login.reads} reads, ${login.writes} writes, ${login.subrequests} subrequests`
    + ` [/login ${loginLines[0].kv_reads}r/${loginLines[0].kv_writes}w, /oauth ${loginLines[1].kv_reads}r/${loginLines[1].kv_writes}w]`);
  measured.login = login;
  assert.ok(login.reads <= 2, `login made ${login.reads} KV reads (at most 2)`);
  assert.ok(login.writes <= 3, `login made ${login.writes} KV writes (at most 3)`);

  // page views right after the login: inside the touch interval (5 min by default)
  const views = [];
  for (let i = 0; i < 3; i += 1) {
    const v = await tagged(main, browser, '/');
    assert.ok(isProfile(v), `page view ${i + 1} shows the profile`);
    views.push(await logLineFor(main, v));
  }
  for (const line of views) {
    assert.equal(line.reason, 'profile');
    assert.equal(line.kv_reads, 1, `a page view reads KV exactly once: ${JSON.stringify(line)}`);
    assert.equal(line.kv_writes, 0, `a page view inside the touch interval writes nothing: ${JSON.stringify(line)}`);
    assert.equal(line.subrequests, 0, 'a page view makes no subrequest');
  }
  report(t, `KV per page view (signed in, inside the touch interval): ${views.map((l) => `${l.kv_reads} read, ${l.kv_writes} writes`).join('; ')}`);
  measured.pageView = { reads: views[0].kv_reads, writes: views[0].kv_writes };

  // a refresh while the access token is still good: userinfo only
  const grantsBefore = main.provider.stats.refreshGrants;
  const refresh = await samePost(main, browser, '/refresh');
  assert.equal(refresh.status, 302, `POST /refresh: ${refresh.status} ${textOf(refresh.text).slice(0, 300)}`);
  const refreshLine = await logLineFor(main, refresh);
  assert.equal(refreshLine.reason, 'profile_refreshed');
  assert.equal(main.provider.stats.refreshGrants, grantsBefore, 'no refresh grant while the access token is good');
  report(t, `KV per refresh (access token still valid: userinfo only): ${refreshLine.kv_reads} reads, ${refreshLine.kv_writes} writes, ${refreshLine.subrequests} subrequests`);
  measured.refreshUserinfoOnly = { reads: refreshLine.kv_reads, writes: refreshLine.kv_writes, subrequests: refreshLine.subrequests };

  // a second login in the same browser (replaces the session: one delete more)
  const mark2 = main.logMark();
  await main.login(browser);
  const again = kvUsage((await requestLinesSince(main, mark2, 3)).filter((o) => o.route === '/login' || o.route === '/oauth'));
  report(t, `KV per login replacing a session in the same browser: ${again.reads} reads, ${again.writes} writes (includes deleting the old session)`);
  measured.relogin = again;
});

// ---------------------------------------------------------------------------------------------
// KV at rest

test('KV entries expire with what they hold: a login record after 10 minutes, a session at its idle end', { timeout: 60_000 }, async () => {
  const before = new Set((await main.kvEntries()).map((e) => e.name));
  const browser = main.newBrowser();
  const startedAt = Math.floor(Date.now() / 1000);
  await main.beginLogin(browser);
  const login = (await main.kvEntries()).find((e) => e.name.startsWith('login:') && !before.has(e.name));
  assert.ok(login, 'a new login record');
  assert.ok(Number.isInteger(login.expiration), `the login record has an expiration: ${JSON.stringify(login)}`);
  assert.ok(Math.abs(login.expiration - (startedAt + 600)) <= 5, `login record expires 600 s after /login (${login.expiration - startedAt} s)`);

  const signedInAt = Math.floor(Date.now() / 1000);
  await main.login(browser);
  const session = (await main.kvEntries()).find((e) => e.name.startsWith('session:') && !before.has(e.name));
  assert.ok(session, 'a new session record');
  assert.ok(Math.abs(session.expiration - (signedInAt + DEFAULT_IDLE)) <= 5,
    `the session expires at its idle end, ${DEFAULT_IDLE} s after sign-in (${session.expiration - signedInAt} s)`);
  await main.logout(browser);
});

test('KV holds only sealed records: no token, email, name, sub, nonce, state or cookie value', { timeout: 60_000 }, async () => {
  const browser = main.newBrowser();
  const r = await main.login(browser);
  const session = sessionValue(browser);
  assert.match(session, SESSION_VALUE, 'session cookie is <43-char id>.<43-char key>');
  const [sessionId, sessionKey] = session.split('.');

  // a login in progress, so that a login: record is there too
  const pendingBrowser = main.newBrowser();
  const pending = await main.beginLogin(pendingBrowser);
  const loginCookie = pendingBrowser.jar.get('localhost', LOGIN_COOKIE)?.value;
  assert.match(loginCookie, LOGIN_VALUE, 'login cookie is up to three 43-char keys joined by dots');

  const keys = await main.kvKeys();
  assert.ok(keys.some((k) => k.startsWith('login:')), `a login: record exists: ${keys.join(', ')}`);
  assert.ok(keys.some((k) => k.startsWith('session:')), 'a session: record exists');
  const dump = [];
  for (const key of keys) dump.push([key, await kvGet(main, key)]);

  const secrets = main.secretsSeen();
  const forbidden = [
    ['client secret', secrets.clientSecret],
    ...secrets.accessTokens.map((v) => ['access token', v]),
    ...secrets.refreshTokens.map((v) => ['refresh token', v]),
    ...secrets.idTokens.flatMap((v) => v.split('.').filter((p) => p.length > 16).map((p) => ['ID token part', p])),
    ...secrets.codes.map((v) => ['authorization code', v]),
    ['email', DEMO_USER.email],
    ['name', DEMO_USER.name],
    ['sub', DEMO_USER.sub],
    ['nonce (completed login)', r.authorizeUrl.searchParams.get('nonce')],
    ['nonce (pending login)', pending.authorizeUrl.searchParams.get('nonce')],
    ['state (completed login)', r.state],
    ['state (pending login)', pending.state],
    ['PKCE challenge (pending login)', pending.authorizeUrl.searchParams.get('code_challenge')],
    ['session id (cookie)', sessionId],
    ['session key (cookie)', sessionKey],
    ['session cookie', session],
    ...loginCookie.split('.').map((v) => ['login key (cookie)', v]),
  ];
  for (const [key, value] of dump) {
    assert.match(key, /^(login|session):[A-Za-z0-9_-]+$/, `KV key shape: ${key}`);
    assert.match(value, /^[A-Za-z0-9_-]{40,}$/, `KV value under ${key.split(':')[0]}: is base64url ciphertext`);
    const bytes = Buffer.from(value, 'base64url').toString('latin1');
    for (const [label, secret] of forbidden) {
      assert.ok(secret, `have a ${label} to look for`);
      assert.ok(!key.includes(secret), `KV key ${key} contains the ${label}`);
      assert.ok(!value.includes(secret), `KV value under ${key.split(':')[0]}: contains the ${label}`);
      assert.ok(!bytes.includes(secret), `decoded KV value under ${key.split(':')[0]}: contains the ${label}`);
    }
    for (const word of ['email', 'access_token', 'refresh_token', 'nonce', 'verifier', 'userinfo']) {
      assert.ok(!bytes.includes(word), `decoded KV value under ${key.split(':')[0]}: contains plain "${word}"`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// /me

test('GET /me: the signed-in user as JSON, no-store, no CORS, no tokens; 401 JSON when signed out', { timeout: 60_000 }, async () => {
  const browser = main.newBrowser();
  await main.login(browser);
  const me = await browser.request(main.url('/me'), { headers: { accept: 'application/json', origin: 'https://evil.example' } });
  assert.equal(me.status, 200, `GET /me: ${me.status} ${me.text.slice(0, 300)}`);
  assert.match(me.headers.get('content-type') || '', /^application\/json\b/);
  assert.match(me.headers.get('cache-control') || '', /no-store/);
  const cors = [...me.headers.keys()].filter((h) => h.toLowerCase().startsWith('access-control-'));
  assert.deepEqual(cors, [], 'no Access-Control-* header');
  const body = JSON.parse(me.text);
  assert.equal(body.sub, DEMO_USER.sub);
  assert.equal(body.id_token_claims.sub, DEMO_USER.sub);
  assert.equal(body.id_token_claims.email, DEMO_USER.email);
  assert.equal(body.id_token_claims.iss, main.provider.issuer);
  assert.equal(body.userinfo.name, DEMO_USER.name);
  assert.equal(body.userinfo.email, DEMO_USER.email);
  const { created_at: created, expires_at: expires, idle_expires_at: idle } = body.session;
  for (const v of [created, expires, idle]) assert.ok(Number.isInteger(v), `session times are integers: ${JSON.stringify(body.session)}`);
  assert.ok(Math.abs(created - Date.now() / 1000) < 30, 'created_at is now (seconds since the epoch)');
  assert.equal(expires - created, DEFAULT_TTL, 'absolute lifetime 8 h by default');
  assert.equal(idle - created, DEFAULT_IDLE, 'idle timeout 1 h by default');
  const s = main.secretsSeen();
  for (const tkn of [...s.accessTokens, ...s.refreshTokens, ...s.idTokens, ...s.codes, s.clientSecret]) {
    assert.ok(!me.text.includes(tkn), '/me must not contain tokens, codes or the client secret');
  }
  for (const k of ['access_token', 'refresh_token', 'id_token"']) assert.ok(!me.text.includes(k), `/me has no ${k}`);
  const cookie = sessionValue(browser);
  assert.ok(!me.text.includes(cookie.split('.')[0]) && !me.text.includes(cookie.split('.')[1]), '/me does not echo the cookie');

  for (const b of [main.newBrowser(), (() => { const x = browser.clone(); x.jar.delete('localhost', SESSION_COOKIE); return x; })()]) {
    const out = await b.request(main.url('/me'), { headers: { accept: 'application/json' } });
    assert.equal(out.status, 401, `signed-out GET /me: ${out.status}`);
    assert.match(out.headers.get('content-type') || '', /^application\/json\b/);
    assert.match(out.headers.get('cache-control') || '', /no-store/);
    assert.equal(JSON.parse(out.text).error, 'unauthenticated');
    assert.deepEqual([...out.headers.keys()].filter((h) => h.startsWith('access-control-')), []);
  }
});

// ---------------------------------------------------------------------------------------------
// /refresh

test('POST /refresh refuses GET (405) and cross-site posts (403); the profile page has a Refresh profile form', { timeout: 60_000 }, async () => {
  const browser = main.newBrowser();
  const { home } = await main.login(browser);
  assert.match(home.text, /<form\b[^>]*\bmethod\s*=\s*["']?post["']?[^>]*\baction\s*=\s*["']?\/refresh["']?|<form\b[^>]*\baction\s*=\s*["']?\/refresh["']?[^>]*\bmethod\s*=\s*["']?post/i,
    'profile page has <form method="post" action="/refresh">');
  assert.match(textOf(home.text), /Refresh profile/);

  const userinfoBefore = main.provider.stats.userinfo;
  const get = await browser.request(main.url('/refresh'));
  assert.equal(get.status, 405, `GET /refresh: ${get.status}`);
  assert.match(get.headers.get('allow') || '', /POST/);

  const crossOrigin = await browser.request(main.url('/refresh'), {
    method: 'POST',
    headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
    body: '',
  });
  assert.equal(crossOrigin.status, 403, `POST /refresh with Origin https://evil.example: ${crossOrigin.status}`);
  const crossSite = await browser.request(main.url('/refresh'), {
    method: 'POST',
    headers: { origin: main.workerOrigin, 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' },
    body: '',
  });
  assert.equal(crossSite.status, 403, `POST /refresh with Sec-Fetch-Site: cross-site: ${crossSite.status}`);
  const crossBoth = await browser.request(main.url('/refresh'), {
    method: 'POST',
    headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' },
    body: '',
  });
  assert.equal(crossBoth.status, 403, `POST /refresh cross-site with both headers: ${crossBoth.status}`);
  assert.equal(main.provider.stats.userinfo, userinfoBefore, 'refused refreshes did not reach the provider');
  for (const r of [get, crossOrigin, crossSite, crossBoth]) {
    const sc = setCookieFor(r, SESSION_COOKIE);
    assert.ok(!sc, `a refused refresh does not touch the session cookie (${r.method} ${r.status})`);
  }
  assert.ok(isProfile(await browser.request(main.url('/'))), 'still signed in after the refused refreshes');

  // and the same-origin form post works
  const ok = await samePost(main, browser, '/refresh');
  assert.equal(ok.status, 302);
  assert.equal(new URL(ok.location).href, main.url('/'));
  assert.equal(main.provider.stats.userinfo, userinfoBefore + 1, 'the refresh fetched userinfo again');
});

test('POST /refresh uses the refresh grant when the access token expires soon, and stores the rotated refresh token', { timeout: 60_000 }, async (t) => {
  const op = main.provider;
  op.setAccessTokenTtl(30); // expires within 60 s: counts as expiring at once
  op.setRotateRefreshToken(true);
  try {
    const browser = main.newBrowser();
    await main.login(browser);
    const grants = op.stats.refreshGrants;
    const grantsOk = op.stats.refreshGrantsOk;
    const rtIssued = op.issued.refreshTokens.length;

    const first = await samePost(main, browser, '/refresh');
    assert.equal(first.status, 302, `POST /refresh: ${first.status} ${textOf(first.text).slice(0, 300)}`);
    assert.equal(new URL(first.location).href, main.url('/'));
    const line = await logLineFor(main, first);
    assert.equal(line.reason, 'profile_refreshed');
    assert.equal(op.stats.refreshGrants, grants + 1, 'the provider saw one refresh grant');
    assert.equal(op.stats.refreshGrantsOk, grantsOk + 1, 'and it succeeded');
    assert.equal(op.issued.refreshTokens.length, rtIssued + 1, 'the provider rotated the refresh token');
    report(t, `KV per refresh (with a refresh grant): ${line.kv_reads} reads, ${line.kv_writes} writes, ${line.subrequests} subrequests`);
    measured.refreshWithGrant = { reads: line.kv_reads, writes: line.kv_writes, subrequests: line.subrequests };
    assert.ok(isProfile(await browser.request(main.url('/'))), 'profile after the refresh');

    // The old refresh token is consumed now (reuse would revoke the grant): a second refresh
    // only succeeds if the Worker stored the rotated one.
    const second = await samePost(main, browser, '/refresh');
    assert.equal(second.status, 302, `second POST /refresh: ${second.status} ${textOf(second.text).slice(0, 300)}`);
    assert.equal(op.stats.refreshGrants, grants + 2);
    assert.equal(op.stats.refreshGrantsOk, grantsOk + 2, 'the second refresh grant (with the rotated token) succeeded');
    const me = JSON.parse((await browser.request(main.url('/me'))).text);
    assert.equal(me.sub, DEMO_USER.sub, 'same user after refreshing');
    assert.equal(me.userinfo.name, DEMO_USER.name);
  } finally {
    op.setAccessTokenTtl(null);
    op.setRotateRefreshToken(null);
  }
});

test('POST /refresh after the provider revoked the grant: 401 Please sign in again, session gone', { timeout: 60_000 }, async () => {
  const op = main.provider;
  op.setAccessTokenTtl(30);
  try {
    const browser = main.newBrowser(); // its own provider session, so its own grant
    await main.login(browser);
    const stolen = browser.clone();
    const keysBefore = await main.sessionKeys();
    await revokeAtProvider(op, op.issued.refreshTokens.at(-1));

    const grants = op.stats.refreshGrants;
    const grantsOk = op.stats.refreshGrantsOk;
    const res = await samePost(main, browser, '/refresh');
    assertEndedByRefresh(res, 'revoked');
    assert.equal(op.stats.refreshGrants, grants + 1, 'the Worker tried the refresh grant');
    assert.equal(op.stats.refreshGrantsOk, grantsOk, 'which failed');
    assert.equal(browser.jar.get('localhost', SESSION_COOKIE), null);
    const keysAfter = await main.sessionKeys();
    assert.equal(keysAfter.length, keysBefore.length - 1, 'the KV session was deleted');
    assert.ok(isSignedOut(await browser.request(main.url('/'))), 'signed out afterwards');
    assert.ok(isSignedOut(await stolen.request(main.url('/'))), 'the old cookie opens nothing');
  } finally {
    op.setAccessTokenTtl(null);
  }
});

test('POST /refresh when the token endpoint fails: 401 Please sign in again, never a 500', { timeout: 60_000 }, async () => {
  const op = main.provider;
  op.setAccessTokenTtl(30);
  try {
    for (const fault of ['token_invalid_grant', 'token_500', 'token_html_502', 'id_token_bad_signature']) {
      const browser = main.newBrowser();
      await main.login(browser);
      const before = await main.sessionKeys();
      op.setFault(fault);
      let res;
      try {
        res = await samePost(main, browser, '/refresh');
      } finally {
        op.setFault(null);
      }
      assertEndedByRefresh(res, fault);
      assert.equal((await main.sessionKeys()).length, before.length - 1, `${fault}: the KV session was deleted`);
      assert.ok(isSignedOut(await browser.request(main.url('/'))), `${fault}: signed out afterwards`);
    }
  } finally {
    op.setAccessTokenTtl(null);
  }
});

test('POST /refresh after the provider restarted (it no longer knows the tokens): 401, session gone', { timeout: 90_000 }, async () => {
  const stack = restartable;
  const browser = stack.newBrowser();
  await stack.login(browser); // long-lived access token: userinfo answers 401, then the refresh grant fails
  const keysBefore = await stack.sessionKeys();
  assert.equal(keysBefore.length, 1);

  await stack.provider.close();
  restartedProvider = await startProvider({
    port: 9424,
    clientId: stack.clientId,
    clientSecret: stack.clientSecret,
    redirectUris: [stack.redirectUri],
  });
  assert.equal(restartedProvider.issuer, stack.provider.issuer, 'same issuer after the restart');

  const res = await samePost(stack, browser, '/refresh');
  assertEndedByRefresh(res, 'provider restarted');
  assert.ok(restartedProvider.stats.userinfo >= 1, 'the Worker asked userinfo (which answered 401)');
  assert.equal(restartedProvider.stats.refreshGrants, 1, 'then tried the refresh grant once');
  assert.equal(restartedProvider.stats.refreshGrantsOk, 0, 'which failed');
  assert.deepEqual(await stack.sessionKeys(), [], 'the KV session was deleted');
  assert.ok(isSignedOut(await browser.request(stack.url('/'))), 'signed out afterwards');
});

// ---------------------------------------------------------------------------------------------
// logout

test('with WEBEX_LOGOUT_URL, POST /logout deletes the session and redirects there', { timeout: 60_000 }, async () => {
  const stack = configured;
  const browser = stack.newBrowser();
  await stack.login(browser);
  assert.equal((await stack.sessionKeys()).length, 1);
  const out = await samePost(stack, browser, '/logout');
  assert.equal(out.status, 302, `POST /logout: ${out.status}`);
  assert.equal(out.rawLocation, LOGOUT_URL, 'redirects to WEBEX_LOGOUT_URL');
  assert.ok(isClearing(setCookieFor(out, SESSION_COOKIE)), 'logout clears the session cookie');
  assert.deepEqual(await stack.sessionKeys(), [], 'the KV session is deleted');
  assert.ok(isSignedOut(await browser.request(stack.url('/'))));
});

test('SESSION_TTL and SESSION_IDLE_TIMEOUT accept suffixes (2h, 30m)', { timeout: 60_000 }, async () => {
  const stack = configured;
  const browser = stack.newBrowser();
  await stack.login(browser);
  const me = await browser.request(stack.url('/me'));
  assert.equal(me.status, 200);
  const { session } = JSON.parse(me.text);
  assert.equal(session.expires_at - session.created_at, 7200, 'SESSION_TTL 2h');
  assert.equal(session.idle_expires_at - session.created_at, 1800, 'SESSION_IDLE_TIMEOUT 30m');
});

test('vars written as TOML numbers are read as those numbers (SESSION_TTL = 7200), not dropped for the defaults', { timeout: 120_000 }, async () => {
  const base = await fs.readFile(path.join(ROOT, 'tests', 'e2e', 'wrangler.toml'), 'utf8');
  const text = `${base
    .replace(/^main = .*$/m, `main = ${JSON.stringify(path.join(ROOT, 'build', 'index.js'))}`)
    .replace(/^\[build\][\s\S]*?(?=^\[\[)/m, '')}\n[vars]\nSESSION_TTL = 7200\nSESSION_IDLE_TIMEOUT = 1800\n`;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toml-numbers-'));
  const config = path.join(dir, 'wrangler.toml');
  await fs.writeFile(config, text);
  try {
    await withStack({ workerPort: 8827, providerPort: 9427, configArgs: ['--config', config] }, async (stack) => {
      const browser = stack.newBrowser();
      await stack.login(browser);
      const { session } = JSON.parse((await browser.request(stack.url('/me'))).text);
      assert.equal(session.expires_at - session.created_at, 7200, 'SESSION_TTL = 7200');
      assert.equal(session.idle_expires_at - session.created_at, 1800, 'SESSION_IDLE_TIMEOUT = 1800');
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// deep links

test('/login?return_to: same-origin paths come back after the login; anything else lands on /', { timeout: 90_000 }, async () => {
  const browser = main.newBrowser();
  await main.login(browser); // a provider session, so further logins need no form

  const good = [
    '/login?return_to=/some/page?x=1',
    `/login?return_to=${encodeURIComponent('/some/page?x=1')}`,
  ];
  for (const loginPath of good) {
    const cb = await main.completeLogin(browser, await beginLoginAt(main, browser, loginPath));
    assert.equal(cb.status, 302, `${loginPath}: callback ${cb.status} ${textOf(cb.text).slice(0, 300)}`);
    assert.match(setCookieFor(cb, SESSION_COOKIE)?.value || '', SESSION_VALUE, `${loginPath}: a session`);
    const to = new URL(cb.location);
    assert.equal(to.origin, main.workerOrigin, `${loginPath}: stays on this origin`);
    assert.equal(to.pathname + to.search, '/some/page?x=1', `${loginPath}: lands on the deep link, got ${cb.rawLocation}`);
  }

  const bad = [
    '/login?return_to=//evil.example',
    `/login?return_to=${encodeURIComponent('//evil.example')}`,
    '/login?return_to=/\\evil.example',
    `/login?return_to=${encodeURIComponent('/\\evil.example')}`,
    '/login?return_to=https://evil.example',
    `/login?return_to=${encodeURIComponent('https://evil.example')}`,
    '/login?return_to=/%0d%0aX', // decodes to "/\r\nX"
    '/login?return_to=/%09/evil.example',
  ];
  for (const loginPath of bad) {
    const cb = await main.completeLogin(browser, await beginLoginAt(main, browser, loginPath));
    assert.equal(cb.status, 302, `${loginPath}: callback ${cb.status} ${textOf(cb.text).slice(0, 300)}`);
    assert.ok(!String(cb.rawLocation).includes('evil'), `${loginPath}: Location ${cb.rawLocation}`);
    const to = new URL(cb.location);
    assert.equal(to.href, main.url('/'), `${loginPath}: must land on /, got ${JSON.stringify(cb.rawLocation)}`);
  }
});

// ---------------------------------------------------------------------------------------------
// session identity

test('every login gets a new session id; a new login in the same browser replaces the old session', { timeout: 60_000 }, async () => {
  const browser = main.newBrowser();
  const keys0 = await main.sessionKeys();
  await main.login(browser);
  const first = sessionValue(browser);
  const keys1 = await main.sessionKeys();
  const added1 = keys1.filter((k) => !keys0.includes(k));
  assert.equal(added1.length, 1, 'the first login added one session');
  const oldBrowser = browser.clone();

  const r = await main.login(browser);
  assert.ok(isProfile(r.home));
  const second = sessionValue(browser);
  assert.match(first, SESSION_VALUE);
  assert.match(second, SESSION_VALUE);
  assert.notEqual(second.split('.')[0], first.split('.')[0], 'a new session id');
  assert.notEqual(second.split('.')[1], first.split('.')[1], 'a new record key');

  const keys2 = await main.sessionKeys();
  assert.equal(keys2.length, keys1.length, `the number of sessions stays the same (${keys1.length} -> ${keys2.length})`);
  assert.ok(!keys2.includes(added1[0]), 'the old KV session is gone');
  assert.equal(keys2.filter((k) => !keys1.includes(k)).length, 1, 'one new KV session');

  const replay = await oldBrowser.request(main.url('/'));
  assert.ok(isSignedOut(replay), 'the old cookie no longer works');
  assert.ok(isClearing(setCookieFor(replay, SESSION_COOKIE)), 'and is cleared');
  assert.ok(isProfile(await browser.request(main.url('/'))), 'the new cookie works');
});

test('a session cookie with the right id but another key is signed out; the real session survives', { timeout: 60_000 }, async () => {
  const browser = main.newBrowser();
  await main.login(browser);
  const [id, key] = sessionValue(browser).split('.');
  const keysBefore = await main.sessionKeys();

  let forged = crypto.randomBytes(32).toString('base64url');
  while (forged === key) forged = crypto.randomBytes(32).toString('base64url');
  assert.match(forged, B64URL43);
  const attacker = main.newBrowser();
  attacker.jar.store(main.url('/'), [`${SESSION_COOKIE}=${id}.${forged}; Path=/; Secure; HttpOnly; SameSite=Lax`]);

  const home = await tagged(main, attacker, '/');
  assert.ok(isSignedOut(home), `forged key: GET / should be the login page, got ${home.status}`);
  assert.ok(!home.text.includes(DEMO_USER.email), 'no profile data');
  assert.ok(isClearing(setCookieFor(home, SESSION_COOKIE)), 'the bad cookie is cleared');
  assert.equal((await logLineFor(main, home)).reason, 'session_unknown');
  const me = await attacker.request(main.url('/me'));
  assert.equal(me.status, 401, 'GET /me with the forged key is 401');

  const keysAfter = await main.sessionKeys();
  assert.deepEqual(keysAfter.slice().sort(), keysBefore.slice().sort(), 'the real session is still in KV');
  assert.ok(isProfile(await browser.request(main.url('/'))), 'the real cookie still works');
});

// ---------------------------------------------------------------------------------------------
// tabs

test('two logins started side by side in one browser both complete (B first, then A)', { timeout: 60_000 }, async () => {
  const browser = main.newBrowser();
  const a = await main.beginLogin(browser);
  const afterA = browser.jar.get('localhost', LOGIN_COOKIE)?.value;
  assert.match(afterA, B64URL43, 'one pending login');
  const b = await main.beginLogin(browser);
  const afterB = browser.jar.get('localhost', LOGIN_COOKIE)?.value;
  assert.match(afterB, LOGIN_VALUE);
  const parts = afterB.split('.');
  assert.equal(parts.length, 2, 'two pending logins');
  assert.equal(parts[1], afterA, 'newest first: the first login is second');

  const cbB = await main.completeLogin(browser, b.callbackUrl);
  assert.equal(cbB.status, 302, `login B: ${cbB.status} ${textOf(cbB.text).slice(0, 300)}`);
  assert.match(setCookieFor(cbB, SESSION_COOKIE)?.value || '', SESSION_VALUE, 'login B set a session');
  assert.equal(browser.jar.get('localhost', LOGIN_COOKIE)?.value, afterA, 'login A still pending');

  const cbA = await main.completeLogin(browser, a.callbackUrl);
  assert.equal(cbA.status, 302, `login A: ${cbA.status} ${textOf(cbA.text).slice(0, 300)}`);
  assert.match(setCookieFor(cbA, SESSION_COOKIE)?.value || '', SESSION_VALUE, 'login A set a session');
  assert.ok(isClearing(setCookieFor(cbA, LOGIN_COOKIE)), 'nothing pending any more: login cookie cleared');
  assert.ok(isProfile(await browser.request(main.url('/'))));
});

test('four logins started in one browser: the oldest is pushed out (400 state_mismatch), the others complete', { timeout: 90_000 }, async () => {
  const browser = main.newBrowser();
  const begun = [];
  for (let i = 0; i < 4; i += 1) begun.push(await main.beginLogin(browser));
  const cookie = browser.jar.get('localhost', LOGIN_COOKIE)?.value;
  assert.match(cookie, LOGIN_VALUE);
  assert.equal(cookie.split('.').length, 3, 'at most three pending logins');

  const oldest = await tagged(main, browser, begun[0].callbackUrl.slice(main.workerOrigin.length), { headers: { referer: `${main.provider.url}/` } });
  assert.equal(oldest.status, 400, `oldest login: ${oldest.status} ${textOf(oldest.text).slice(0, 300)}`);
  assert.equal((await logLineFor(main, oldest)).reason, 'state_mismatch');
  const sc = setCookieFor(oldest, SESSION_COOKIE);
  assert.ok(!sc || sc.value === '', 'no session from the pushed-out login');
  assert.match(textOf(oldest.text), /Start again/);

  for (const i of [3, 1, 2]) {
    const cb = await main.completeLogin(browser, begun[i].callbackUrl);
    assert.equal(cb.status, 302, `login ${i + 1}: ${cb.status} ${textOf(cb.text).slice(0, 300)}`);
    assert.match(setCookieFor(cb, SESSION_COOKIE)?.value || '', SESSION_VALUE, `login ${i + 1} set a session`);
  }
  assert.ok(isProfile(await browser.request(main.url('/'))));
});

// ---------------------------------------------------------------------------------------------
// lifetimes, with real waiting (idle 24 s, absolute 40 s, touch interval 2 s)

test('an idle session ends after SESSION_IDLE_TIMEOUT, server-side, and its KV record is deleted', { timeout: 240_000 }, async () => {
  await withStack({
    workerPort: 8825,
    providerPort: 9425,
    vars: { SESSION_IDLE_TIMEOUT: '24', SESSION_TTL: '40' },
  }, async (stack) => {
    const idle = stack.newBrowser();
    const keys0 = await stack.sessionKeys();
    await stack.login(idle);
    const idleKeys = (await stack.sessionKeys()).filter((k) => !keys0.includes(k));
    assert.equal(idleKeys.length, 1, 'one KV session');
    const signedIn = Date.now();
    await sleep(signedIn + 26_000 - Date.now());
    const home = await tagged(stack, idle, '/');
    assert.ok(isSignedOut(home), `idle session after 26 s should be signed out, got ${home.status}`);
    assert.ok(isClearing(setCookieFor(home, SESSION_COOKIE)), 'the idle session\'s cookie is cleared');
    const line = await logLineFor(stack, home);
    assert.equal(line.reason, 'session_unknown');
    // KV would keep it for its 60-second minimum TTL: the Worker deletes it on sight.
    assert.equal(line.kv_writes, 1, 'the page view deleted the expired record');
    assert.ok(!(await stack.sessionKeys()).includes(idleKeys[0]), 'the idle session\'s KV record is gone');
    assert.equal((await idle.request(stack.url('/me'))).status, 401);
    assert.equal(stack.workerResponses.filter((r) => r.status >= 500).length, 0);
  });
});

// Kept apart from the idle case: with both in one `wrangler dev`, its local KV service was
// seen to crash (workerd: "stream disconnected prematurely") on the final delete here.
test('an active session outlives the idle timeout through touches, one KV write per interval', { timeout: 240_000 }, async (t) => {
  short = await startStack({
    workerPort: 8822,
    providerPort: 9422,
    vars: { SESSION_IDLE_TIMEOUT: '24', SESSION_TTL: '40' },
  });
  const stack = short;
  const active = stack.newBrowser();
  await stack.login(active);
  const t0 = Date.now();
  const view0 = await tagged(stack, active, '/me');
  assert.equal(view0.status, 200);
  const { session } = JSON.parse(view0.text);
  assert.equal(session.expires_at - session.created_at, 40, 'SESSION_TTL 40');
  assert.equal(session.idle_expires_at - session.created_at, 24, 'SESSION_IDLE_TIMEOUT 24');

  const at = async (secs) => {
    const wait = t0 + secs * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
  };
  const view = async (label) => {
    const r = await tagged(stack, active, '/');
    return { r, line: await logLineFor(stack, r), label };
  };

  // well inside the 2 s touch interval (well under a second after sign-in): 1 read, 0 writes
  const quick = await view('quick');
  assert.ok(isProfile(quick.r));
  assert.equal(quick.line.kv_reads, 1);
  assert.equal(quick.line.kv_writes, 0, `a page view right after sign-in writes nothing: ${JSON.stringify(quick.line)}`);
  await at(3);
  const touch = await view('after 3 s');
  assert.ok(isProfile(touch.r));
  assert.equal(touch.line.kv_reads, 2, 'the touch re-reads the record right before writing it');
  assert.equal(touch.line.kv_writes, 1, `a page view after the touch interval (2 s) writes last_seen_at once: ${JSON.stringify(touch.line)}`);
  const right = await view('right after the touch');
  assert.ok(isProfile(right.r));
  assert.equal(right.line.kv_reads, 1);
  assert.equal(right.line.kv_writes, 0, `a page view inside the touch interval writes nothing: ${JSON.stringify(right.line)}`);
  report(t, `KV per page view with SESSION_IDLE_TIMEOUT 24 (touch interval 2 s): just after sign-in ${quick.line.kv_reads} read/${quick.line.kv_writes} writes; `
    + `3 s later ${touch.line.kv_reads} read/${touch.line.kv_writes} write (touch); right after that ${right.line.kv_reads} read/${right.line.kv_writes} writes`);

  // keep A active every 4 s; leave B alone
  for (const s of [7, 11, 15, 19, 23, 27]) {
    await at(s);
    const v = await view(`+${s}s`);
    assert.ok(isProfile(v.r), `active session still signed in at +${s} s (${v.line.reason})`);
  }

  // A is past 24 s since its login, still in thanks to the touches
  for (const s of [31, 35]) {
    await at(s);
    const v = await view(`+${s}s`);
    assert.ok(isProfile(v.r), `active session still signed in at +${s} s, past the idle timeout from sign-in (${v.line.reason})`);
  }

  await at(37);
  const late = await view('+37s');
  assert.ok(isProfile(late.r), 'still signed in at +37 s');
  // The absolute end itself (a request at +42 s carrying a copied cookie) is asserted by the
  // native route tests only: on this machine's wrangler 4.86 local runtime that request made
  // the dev server drop its connection to workerd ("stream disconnected prematurely") before
  // the Worker ran, in four runs out of five, while the same request in a shorter sequence
  // passed. The server-side rule is `Freshness::Expired` in src/sessions/mod.rs.
});

// ---------------------------------------------------------------------------------------------

// (The request log of each stack, secrets and the user's email included, is checked when it
// stops: see startStack.)
test('no Worker response on these stacks was a 5xx', async (t) => {
  for (const stack of [main, short, configured, restartable]) {
    const bad = stack.workerResponses.filter((r) => r.status >= 500);
    assert.deepEqual(bad, [], `${stack.workerOrigin}: 5xx responses`);
  }
  report(t, `measured KV usage: ${JSON.stringify(measured)}`);
});
