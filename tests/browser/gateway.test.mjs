// Gateway mode in a real browser: a protected page of the demo origin, signed out → the local
// provider → back on the same page, which shows the user's email from the identity headers and
// an assertion it verified. Worker on 8872, provider on 9472, origin on 9672.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { after, before, test } from 'node:test';

import { exportJWK, generateKeyPair } from 'jose';

import { startOrigin } from '../gateway/origin.mjs';
import { DEMO_USER } from '../provider/provider.mjs';
import { ARTIFACTS, launchChromium, watchPage } from './chromium.mjs';
import { GATEWAY_CONFIG_ARGS, startStack, stopAll } from '../e2e/harness.mjs';

let stack;
let origin;
let browser;

before(async () => {
  origin = await startOrigin({ port: 9672, gatewayOrigin: 'http://localhost:8872' });
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const { kty, crv, x, y, d } = await exportJWK(privateKey);
  stack = await startStack({
    workerPort: 8872,
    providerPort: 9472,
    authPrefix: '/_auth',
    configArgs: GATEWAY_CONFIG_ARGS,
    forwardedMarker: 'x-demo-origin',
    vars: {
      UPSTREAM_URL: origin.url,
      ALLOWED_EMAIL_DOMAINS: DEMO_USER.email.split('@')[1],
      ASSERTION_SIGNING_KEY: JSON.stringify({ kty, crv, x, y, d }),
    },
  });
  // The origin verifies each assertion against the keys with jose, not a recording browser.
  stack.allowUnrecorded('GET', '/_auth/jwks.json', 200);
  browser = await launchChromium();
}, { timeout: 180_000 });

after(async () => {
  await browser?.close();
  try {
    await stopAll(stack);
  } finally {
    await origin?.close();
  }
});

test('a protected page: sign in at the provider, land back on it, see who the origin was told', { timeout: 120_000 }, async (t) => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  // Chromium asks the origin for /favicon.ico by itself: forwarded (200) when signed in, 401
  // once signed out; Playwright does not report that request.
  stack.allowUnrecorded('GET', '/favicon.ico', 200);
  stack.allowUnrecorded('GET', '/favicon.ico', 401);
  const problems = watchPage(page, { stack, allowed: ['GET /favicon.ico 401'] });
  try {
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(`${stack.provider.url}/interaction/`)),
      page.goto(stack.url('/reports/weekly?week=12')),
    ]);
    await page.fill('input[name="login"]', 'demo');
    await page.fill('input[name="password"]', 'demo');
    await Promise.all([
      page.waitForURL(stack.url('/reports/weekly?week=12'), { timeout: 30_000 }),
      page.click('button[type="submit"]'),
    ]);
    assert.equal(await page.locator('#who').innerText(), `Hello, ${DEMO_USER.email}`);
    assert.match(await page.locator('#assertion').innerText(), /Webex-Assertion: verified/);
    assert.match(await page.locator('#identity').innerText(), new RegExp(`"x-webex-email": "${DEMO_USER.email}"`));
    await page.screenshot({ path: path.join(ARTIFACTS, 'gateway-origin.png'), fullPage: true });

    // The origin's page offers the gateway's sign-out; afterwards the page asks to sign in again.
    await Promise.all([
      page.waitForURL(stack.url('/_auth/?signed_out')),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    await page.getByText('You are signed out').first().waitFor();
    const again = await page.request.get(stack.url('/reports/weekly'), {
      maxRedirects: 0,
      headers: { 'sec-fetch-mode': 'navigate' },
    });
    stack.workerResponses.push({ method: 'GET', route: '/reports/weekly', status: again.status(), fromWorker: stack.isWorkers(again.headers()) });
    assert.equal(again.status(), 302);
    assert.equal(again.headers().location, '/_auth/login?return_to=%2Freports%2Fweekly');
    assert.deepEqual(problems, [], 'no script, console or CSP error, no unexpected 4xx/5xx from the Worker');
  } finally {
    if (problems.length) t.diagnostic(`problems: ${problems.join(' | ')}`);
    await context.close();
  }
});
