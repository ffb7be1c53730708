// Gateway mode against the real runtime: the Worker in front of a real origin
// (tests/gateway/origin.mjs, which verifies the assertion itself with jose), signing in at the
// local provider. Worker on 8870 (provider 9470, origin 9670) with an email allow-list and
// public paths; a second stack on 8871 (9471, 9671) admits by Webex organisation.
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { after, before, test } from 'node:test';

import { SignJWT, createRemoteJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify } from 'jose';
import WebSocket from 'ws';

import { startOrigin } from '../gateway/origin.mjs';
import { processTree } from '../bench/procstat.mjs';
import { DEMO_ORG_ID, DEMO_USER } from '../provider/provider.mjs';
import {
  GATEWAY_CONFIG_ARGS,
  LOGIN_COOKIE,
  SESSION_COOKIE,
  logLineFor,
  newRequestId,
  startStack,
  stopAll,
  textOf,
} from './harness.mjs';

const PREFIX = '/_auth';

async function newKey() {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const { kty, crv, x, y, d } = await exportJWK(privateKey);
  return { kty, crv, x, y, d };
}

let stack;
let origin;
let previousKey;
let currentKey;

before(async () => {
  origin = await startOrigin({ port: 9670, gatewayOrigin: 'http://localhost:8870' });
  [previousKey, currentKey] = [await newKey(), await newKey()];
  const { d: _, ...previousPublic } = previousKey;
  stack = await startStack({
    workerPort: 8870,
    providerPort: 9470,
    authPrefix: PREFIX,
    configArgs: GATEWAY_CONFIG_ARGS,
    forwardedMarker: 'x-demo-origin',
    vars: {
      UPSTREAM_URL: origin.url,
      ALLOWED_EMAILS: DEMO_USER.email.toUpperCase(),
      PUBLIC_PATHS: '/healthz,/assets/',
      ASSERTION_SIGNING_KEY: JSON.stringify(currentKey),
      ASSERTION_SIGNING_KEY_PREVIOUS: JSON.stringify(previousPublic),
    },
  });
  // The origin and the tests fetch the keys with jose, not with a recording browser.
  stack.allowUnrecorded('GET', `${PREFIX}/jwks.json`, 200);
}, { timeout: 180_000 });

after(async () => {
  try {
    await stopAll(stack);
  } finally {
    await origin?.close();
  }
});

const navigate = { 'sec-fetch-mode': 'navigate', accept: 'text/html' };

/** Signs in starting from a protected page; returns the browser, back on that page. */
async function signedIn(s = stack, start = '/echo/start') {
  const browser = s.newBrowser();
  const begun = await s.beginLogin(browser, { start, headers: navigate });
  const callback = await s.completeLogin(browser, begun.callbackUrl);
  assert.equal(callback.status, 302, textOf(callback.text).slice(0, 400));
  assert.equal(callback.rawLocation, start, 'lands back on the page it started from');
  return browser;
}

const json = (response) => JSON.parse(response.text);

test('signed out: a page load is sent to sign in, an API call gets 401 JSON, nothing is forwarded', async () => {
  const browser = stack.newBrowser();
  const before = origin.requests.length;
  const page = await browser.request(stack.url('/app/page?x=1&y=%20'), { headers: navigate });
  assert.equal(page.status, 302);
  assert.equal(page.rawLocation, `${PREFIX}/login?return_to=%2Fapp%2Fpage%3Fx%3D1%26y%3D%2520`);
  for (const headers of [{ accept: 'application/json' }, { 'sec-fetch-mode': 'cors', accept: 'text/html' }]) {
    const api = await browser.request(stack.url('/api/data'), { headers });
    assert.equal(api.status, 401);
    assert.deepEqual(json(api), { error: 'unauthenticated', login_url: `${PREFIX}/login` });
  }
  assert.equal(origin.requests.length, before);
});

test('a sign-in lands back on the same page, and the origin verifies the identity it receives', { timeout: 60_000 }, async () => {
  const browser = await signedIn(stack, '/echo/start?x=1');
  const page = await browser.request(stack.url('/echo/start?x=1'), { headers: navigate });
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('x-demo-origin'), '1', 'the origin answered');
  assert.equal(page.headers.get('content-security-policy'), null, 'as the origin sent it');
  const seen = json(page);
  assert.equal(seen.path, '/echo/start');
  assert.equal(seen.search, '?x=1');
  assert.equal(seen.identity['x-webex-email'], DEMO_USER.email);
  assert.equal(seen.identity['x-webex-name'], DEMO_USER.name);
  assert.equal(seen.identity['x-webex-user'], seen.assertion.claims.sub);
  assert.equal(seen.identity['x-forwarded-host'], 'localhost:8870');
  assert.equal(seen.identity['x-forwarded-proto'], 'http');
  assert.equal(seen.assertion.verified, true, `the origin verified it: ${seen.assertion.error}`);

  // And independently here, against the published keys.
  const keys = createRemoteJWKSet(new URL(stack.url(`${PREFIX}/jwks.json`)));
  const { payload, protectedHeader } = await jwtVerify(seen.headers['webex-assertion'], keys, {
    issuer: stack.workerOrigin,
    audience: origin.url,
    algorithms: ['ES256'],
  });
  assert.equal(protectedHeader.kid, json(await browser.request(stack.url(`${PREFIX}/jwks.json`))).keys[0].kid);
  assert.equal(payload.email, DEMO_USER.email);
  assert.equal(payload.exp - payload.iat, 60);

  const line = await logLineFor(stack, await tagged(browser, '/echo/cost'));
  assert.deepEqual([line.reason, line.kv_reads, line.kv_writes, line.subrequests], ['forwarded', 1, 0, 1]);
});

/** A request from `browser` the Worker logs under a request id of ours. */
async function tagged(browser, p, headers = {}) {
  const requestId = newRequestId();
  const response = await browser.request(stack.url(p), { headers: { ...headers, 'cf-ray': requestId } });
  return { ...response, requestId };
}

test('clients cannot spoof identity, our cookies stay with us, and the origin cannot set them', { timeout: 60_000 }, async () => {
  const browser = await signedIn();
  browser.jar.store(new URL(stack.workerOrigin), ['theme=dark; Path=/']);
  const page = await browser.request(stack.url('/echo/spoof'), {
    headers: {
      'X-Webex-User': 'admin',
      'X-Webex-Email': 'ceo@example.com',
      'X-Webex-Org-Id': 'other-org',
      'Webex-Assertion': 'forged',
      'X-Forwarded-For': '10.9.9.9',
      Authorization: 'Bearer app-token',
    },
  });
  const seen = json(page);
  assert.equal(seen.identity['x-webex-email'], DEMO_USER.email);
  assert.notEqual(seen.identity['x-webex-user'], 'admin');
  assert.equal(seen.identity['x-webex-org-id'], undefined);
  assert.notEqual(seen.headers['webex-assertion'], 'forged');
  assert.notEqual(seen.identity['x-forwarded-for'], '10.9.9.9');
  assert.equal(seen.headers.authorization, 'Bearer app-token', 'the app\'s own headers pass');
  assert.equal(seen.headers.cookie, 'theme=dark', 'only the origin\'s cookies');

  const sessionBefore = browser.jar.get('localhost', SESSION_COOKIE).value;
  const planted = await browser.request(stack.url('/set-cookie'));
  assert.equal(planted.status, 200);
  assert.deepEqual(planted.setCookies, ['origin-pref=1; Path=/']);
  assert.equal(browser.jar.get('localhost', SESSION_COOKIE).value, sessionBefore);
  assert.ok(!browser.jar.get('localhost', LOGIN_COOKIE), 'the origin cannot plant a login cookie');
});

/** GET with exactly this path on the wire (fetch would normalise it first). */
function rawGet(path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: 8870, path, headers: { host: 'localhost:8870', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        stack.workerResponses.push({
          method: 'GET',
          route: new URL(`http://localhost:8870${path}`).pathname,
          status: res.statusCode,
          fromWorker: Boolean(res.headers['content-security-policy'] || res.headers['x-demo-origin']),
        });
        resolve({ status: res.statusCode, headers: res.headers, text });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('public paths pass without sign-in or identity; encoded tricks do not widen them', { timeout: 60_000 }, async () => {
  for (const p of ['/healthz', '/healthz/live', '/assets/app.css']) {
    const response = await rawGet(p, { 'x-webex-user': 'admin' });
    assert.equal(response.status, 200, p);
    assert.equal(response.headers['x-demo-origin'], '1', p);
    const seen = origin.requests.at(-1);
    assert.equal(seen.path, p);
    assert.equal(seen.headers['x-webex-user'], undefined, `${p}: no identity, spoofed or not`);
    assert.equal(seen.headers['webex-assertion'], undefined);
  }
  const before = origin.requests.length;
  for (const trick of ['/assets/../admin', '/assets/%2e%2e/admin', '/assets%2F..%2Fadmin', '//assets/x', '/assets\\..\\admin', '/ASSETS/app.css', '/healthzadmin']) {
    const response = await rawGet(trick, { accept: 'application/json' });
    assert.equal(response.status, 401, `${trick} must not be public (${response.status})`);
  }
  assert.equal(origin.requests.length, before, 'none of them reached the origin');
});

test('forward-auth: 401 signed out, 204 with the identity and a verifiable assertion', { timeout: 60_000 }, async () => {
  const out = await stack.newBrowser().request(stack.url(`${PREFIX}/check`), { headers: navigate });
  assert.equal(out.status, 401, 'never a redirect');
  const browser = await signedIn();
  const before = origin.requests.length;
  const ok = await browser.request(stack.url(`${PREFIX}/check`));
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('x-webex-email'), DEMO_USER.email);
  const keys = createRemoteJWKSet(new URL(stack.url(`${PREFIX}/jwks.json`)));
  await jwtVerify(ok.headers.get('webex-assertion'), keys, { issuer: stack.workerOrigin, audience: origin.url });
  assert.equal(origin.requests.length, before, 'nothing forwarded');
});

test('key rotation: the previous key stays published, so assertions it signed still verify', async () => {
  const jwks = json(await stack.newBrowser().request(stack.url(`${PREFIX}/jwks.json`)));
  assert.equal(jwks.keys.length, 2);
  assert.ok(jwks.keys.every((k) => k.d === undefined), 'no private part');
  const previousKid = jwks.keys[1].kid;
  const oldAssertion = await new SignJWT({ email: DEMO_USER.email })
    .setProtectedHeader({ alg: 'ES256', kid: previousKid })
    .setIssuer(stack.workerOrigin).setAudience(origin.url).setSubject('u').setIssuedAt().setExpirationTime('1m')
    .sign(await importJWK(previousKey, 'ES256'));
  const keys = createRemoteJWKSet(new URL(stack.url(`${PREFIX}/jwks.json`)));
  await jwtVerify(oldAssertion, keys, { issuer: stack.workerOrigin, audience: origin.url });
  const foreign = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: previousKid })
    .setIssuer(stack.workerOrigin).setAudience(origin.url).setIssuedAt().setExpirationTime('1m')
    .sign(await importJWK(await newKey(), 'ES256'));
  await assert.rejects(jwtVerify(foreign, keys, { issuer: stack.workerOrigin, audience: origin.url }));
});

test('large uploads and downloads stream through without the Worker holding them', { timeout: 120_000 }, async () => {
  const browser = await signedIn();
  const workerd = processTree(stack.wranglerPid, 8870).filter((p) => p.role === 'worker').map((p) => p.pid);
  const rss = () => workerd.reduce((sum, pid) => {
    try {
      return sum + Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
    } catch { return sum; }
  }, 0);
  const MB = 1024 * 1024;
  const startRss = rss();
  let peak = startRss;
  const sampler = setInterval(() => { peak = Math.max(peak, rss()); }, 20);
  try {
    const body = crypto.randomBytes(48 * MB);
    const up = await browser.request(stack.url('/upload'), { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(up.status, 200);
    assert.deepEqual(json(up), { bytes: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') });
    const down = await browser.request(stack.url('/download?mb=48'));
    assert.equal(down.status, 200);
    assert.equal(down.text.length, 48 * MB);
  } finally {
    clearInterval(sampler);
  }
  const grew = peak - startRss;
  console.log(`# workerd RSS during 48 MiB up and 48 MiB down: ${Math.round(startRss / MB)} MiB, peak +${Math.round(grew / MB)} MiB`);
  assert.ok(grew < 32 * MB, `the Worker held the bodies: RSS grew ${Math.round(grew / MB)} MiB`);
});

test('WebSocket upgrades pass through for a signed-in user, and not without one', { timeout: 60_000 }, async () => {
  const browser = await signedIn();
  const cookie = `${SESSION_COOKIE}=${browser.jar.get('localhost', SESSION_COOKIE).value}`;
  const echoed = await new Promise((resolve, reject) => {
    const ws = new WebSocket('ws://localhost:8870/ws', { headers: { cookie } });
    ws.on('open', () => ws.send('hello'));
    ws.on('message', (data) => { resolve(String(data)); ws.close(); });
    ws.on('error', reject);
  });
  assert.equal(echoed, 'echo: hello');
  const upgrade = origin.requests.findLast((r) => r.method === 'UPGRADE');
  assert.equal(upgrade.headers['x-webex-email'], DEMO_USER.email);
  const refused = await new Promise((resolve) => {
    const ws = new WebSocket('ws://localhost:8870/ws');
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.on('open', () => resolve('opened'));
    ws.on('error', () => {});
  });
  assert.equal(refused, 401);
  stack.unrecorded.add('GET /ws 101');
  stack.unrecorded.add('GET /ws 401');
});

test('a WebSocket upgrade cannot set the gateway\'s cookies: the 101 goes back without them, and the socket works', { timeout: 60_000 }, async () => {
  const browser = await signedIn();
  const cookie = `${SESSION_COOKIE}=${browser.jar.get('localhost', SESSION_COOKIE).value}`;
  const { setCookies, echoed } = await new Promise((resolve, reject) => {
    let setCookies;
    const ws = new WebSocket('ws://localhost:8870/ws?plant', { headers: { cookie } });
    ws.on('upgrade', (res) => { setCookies = [res.headers['set-cookie'] ?? []].flat(); });
    ws.on('open', () => ws.send('hi'));
    ws.on('message', (data) => { resolve({ setCookies, echoed: String(data) }); ws.close(); });
    ws.on('error', reject);
  });
  assert.equal(echoed, 'echo: hi');
  assert.deepEqual(setCookies.map((c) => c.split('=')[0]), ['origin-ws'], 'only the origin\'s own cookie');
  stack.unrecorded.add('GET /ws 101');
});

test('an origin that is down gets a 502 page, a slow one a 504 after 30 s; the session survives', { timeout: 120_000 }, async () => {
  const browser = await signedIn();
  const slow = await browser.request(stack.url('/slow?ms=40000'), { headers: navigate });
  assert.equal(slow.status, 504);
  assert.match(textOf(slow.text), /did not answer in time/);
  await origin.close();
  try {
    const down = await browser.request(stack.url('/echo/down'), { headers: navigate });
    assert.equal(down.status, 502);
    assert.match(textOf(down.text), /could not be reached/);
    assert.deepEqual(down.setCookies, [], 'the session cookie is left alone');
  } finally {
    origin = await startOrigin({ port: 9670, gatewayOrigin: 'http://localhost:8870' });
  }
  const back = await browser.request(stack.url('/echo/back'), { headers: navigate });
  assert.equal(back.status, 200, 'still signed in');
});

test('an organisation rule admits members and checks again at every refresh', { timeout: 180_000 }, async () => {
  const orgOrigin = await startOrigin({ port: 9671, gatewayOrigin: 'http://localhost:8871' });
  const orgStack = await startStack({
    workerPort: 8871,
    providerPort: 9471,
    authPrefix: PREFIX,
    configArgs: GATEWAY_CONFIG_ARGS,
    forwardedMarker: 'x-demo-origin',
    vars: {
      UPSTREAM_URL: orgOrigin.url,
      ALLOWED_EMAILS: 'someone.else@example.com',
      ALLOWED_WEBEX_ORGS: DEMO_ORG_ID,
      ASSERTION_SIGNING_KEY: JSON.stringify(await newKey()),
    },
  });
  orgStack.allowUnrecorded('GET', `${PREFIX}/jwks.json`, 200);
  try {
    const browser = orgStack.newBrowser();
    const begun = await orgStack.beginLogin(browser, { start: '/echo/org', headers: navigate });
    assert.match(begun.authorizeUrl.searchParams.get('scope'), /\bspark:people_read\b/);
    await orgStack.completeLogin(browser, begun.callbackUrl);
    const admitted = await browser.request(orgStack.url('/echo/org'));
    assert.equal(admitted.status, 200);
    assert.equal(json(admitted).identity['x-webex-org-id'], DEMO_ORG_ID);

    orgStack.provider.setOrgId('Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9vdGhlcg');
    const refreshed = await browser.request(orgStack.url(`${PREFIX}/refresh`), {
      method: 'POST',
      headers: { origin: orgStack.workerOrigin, 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    assert.equal(refreshed.status, 302);
    const page = await browser.request(orgStack.url('/echo/org'), { headers: navigate });
    assert.equal(page.status, 403);
    assert.match(textOf(page.text), new RegExp(`The account ${DEMO_USER.email} is not allowed`));
    assert.match(page.text, new RegExp(`action="${PREFIX}/logout"`));
    const api = await browser.request(orgStack.url('/api'), { headers: { accept: 'application/json' } });
    assert.equal(api.status, 403);
    assert.equal(json(api).error, 'forbidden');
    assert.ok(!orgOrigin.requests.some((r) => r.path === '/api'), 'nothing forwarded');
  } finally {
    try {
      await stopAll(orgStack);
    } finally {
      await orgOrigin.close();
    }
  }
});

test('the origin\'s redirects go back to the client as sent, never followed by the Worker', { timeout: 60_000 }, async () => {
  const browser = await signedIn();
  const before = origin.requests.length;
  const moved = await browser.request(stack.url('/redirect'));
  assert.equal(moved.status, 302);
  assert.equal(moved.rawLocation, '/echo/after-redirect');
  assert.equal(moved.headers.get('x-demo-origin'), '1');
  assert.deepEqual(origin.requests.slice(before).map((r) => r.path), ['/redirect'], 'nothing followed');
});

test('in front of another Worker through a service binding (UPSTREAM) instead of UPSTREAM_URL', { timeout: 180_000 }, async () => {
  const bound = await startStack({
    workerPort: 8873,
    providerPort: 9473,
    authPrefix: PREFIX,
    forwardedMarker: 'x-demo-origin',
    configArgs: [
      '--config', 'tests/e2e/wrangler.gateway-binding.toml',
      '--config', 'tests/e2e/upstream-worker/wrangler.toml',
    ],
    vars: {
      ALLOW_ANY_WEBEX_USER: 'true',
      ASSERTION_SIGNING_KEY: JSON.stringify(await newKey()),
    },
  });
  bound.allowUnrecorded('GET', `${PREFIX}/jwks.json`, 200);
  try {
    const api = await bound.newBrowser().request(bound.url('/echo/bound'), { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401, 'gateway mode is on with the binding alone');
    const browser = await signedIn(bound, '/echo/bound?via=binding');
    const page = await browser.request(bound.url('/echo/bound?via=binding'));
    assert.equal(page.status, 200);
    const seen = json(page);
    assert.equal(seen.path, '/echo/bound');
    assert.equal(seen.search, '?via=binding');
    assert.equal(seen.headers['x-webex-email'], DEMO_USER.email);
    assert.equal(seen.headers.cookie, undefined, 'our cookies stay with us');
    const keys = createRemoteJWKSet(new URL(bound.url(`${PREFIX}/jwks.json`)));
    const { payload } = await jwtVerify(seen.headers['webex-assertion'], keys, {
      issuer: bound.workerOrigin,
      audience: bound.workerOrigin,
      algorithms: ['ES256'],
    });
    assert.equal(payload.email, DEMO_USER.email);
  } finally {
    await stopAll(bound);
  }
});
