// Two tabs of one real browser (Chromium via playwright-core, one context = one cookie jar)
// start a login each, get to the provider's login form, and submit them in the opposite
// order: both end on the profile page. Then "Refresh profile" lands on the profile again.
// Worker on 8826, provider on 9426. Screenshot: test-artifacts/two-tabs.png (git-ignored).
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { after, before, test } from 'node:test';


import { DEMO_USER } from '../provider/provider.mjs';
import { ARTIFACTS, launchChromium, watchPage } from './chromium.mjs';
import { LOGIN_COOKIE, SESSION_COOKIE, startStack } from '../e2e/harness.mjs';


let stack;
let browser;

before(async () => {
  stack = await startStack({ workerPort: 8826, providerPort: 9426 });
  browser = await launchChromium();
}, { timeout: 180_000 });

after(async () => {
  await browser?.close();
  await stack?.stop();
});

async function toProviderForm(page) {
  await page.goto(stack.url('/'));
  await page.getByText('Sign in with Webex').first().waitFor();
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(`${stack.provider.url}/interaction/`)),
    page.getByText('Sign in with Webex').first().click(),
  ]);
  await page.locator('input[name="login"]').waitFor();
}

async function submitProviderForm(page) {
  await page.fill('input[name="login"]', 'demo');
  await page.fill('input[name="password"]', 'demo');
  const [callback] = await Promise.all([
    page.waitForResponse((r) => r.url().startsWith(`${stack.redirectUri}?`), { timeout: 30_000 }),
    page.waitForURL(stack.url('/'), { timeout: 30_000 }),
    page.click('button[type="submit"]'),
  ]);
  return callback;
}

async function assertProfile(page, label) {
  await page.locator('#id-token-claims').waitFor({ timeout: 10_000 });
  const body = await page.locator('body').innerText();
  assert.ok(body.includes(DEMO_USER.name), `${label}: profile shows the name`);
  assert.ok(body.includes(DEMO_USER.email), `${label}: profile shows the email`);
  assert.ok((await page.locator('#id-token-claims').innerText()).includes(DEMO_USER.sub), `${label}: ID token claims shown`);
}

test('two tabs: both logins complete (second tab first), then Refresh profile', { timeout: 150_000 }, async (t) => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const first = await context.newPage();
  const second = await context.newPage();
  // One list per tab, read together at the end.
  const problems = [
    watchPage(first, { stack, label: 'tab 1' }),
    watchPage(second, { stack, label: 'tab 2' }),
  ];
  const sessionCookie = async () => (await context.cookies(stack.url('/'))).find((c) => c.name === SESSION_COOKIE) || null;
  const loginCookie = async () => (await context.cookies(stack.url('/'))).find((c) => c.name === LOGIN_COOKIE) || null;

  try {
    // both tabs up to the provider's login form
    await toProviderForm(first);
    await toProviderForm(second);
    const pending = await loginCookie();
    assert.ok(pending, 'the login cookie is set');
    assert.equal(pending.value.split('.').length, 2, 'two logins pending in the one login cookie');
    assert.notEqual(new URL(first.url()).pathname, new URL(second.url()).pathname, 'two separate provider interactions');

    // the second tab first
    const cbSecond = await submitProviderForm(second);
    assert.equal(cbSecond.status(), 302, `tab 2 callback answered ${cbSecond.status()}`);
    await assertProfile(second, 'tab 2');
    const afterSecond = await sessionCookie();
    assert.ok(afterSecond, 'tab 2 login set the session cookie');
    assert.equal((await loginCookie())?.value.split('.').length, 1, 'one login still pending');

    // then the first tab's (older) login
    const cbFirst = await submitProviderForm(first);
    assert.equal(cbFirst.status(), 302, `tab 1 callback answered ${cbFirst.status()}`);
    await assertProfile(first, 'tab 1');
    const afterFirst = await sessionCookie();
    assert.ok(afterFirst, 'tab 1 login set the session cookie');
    assert.notEqual(afterFirst.value, afterSecond.value, 'tab 1 login started a new session');
    assert.equal(await loginCookie(), null, 'no login pending any more');

    // both tabs share the one (newest) session
    await second.reload();
    await assertProfile(second, 'tab 2 after reload');

    // Refresh profile in the first tab
    const [refresh] = await Promise.all([
      first.waitForResponse((r) => new URL(r.url()).pathname === '/refresh'),
      first.getByRole('button', { name: 'Refresh profile' }).click(),
    ]);
    const sent = await refresh.request().allHeaders();
    assert.equal(refresh.request().method(), 'POST');
    assert.equal(refresh.status(), 302,
      `POST /refresh from the Refresh profile button answered ${refresh.status()} `
      + `(browser sent Origin: ${sent.origin}, Sec-Fetch-Site: ${sent['sec-fetch-site']})`);
    await first.waitForURL(stack.url('/'));
    await assertProfile(first, 'tab 1 after Refresh profile');
    assert.ok(await sessionCookie(), 'still signed in after the refresh');
    const reasons = stack.jsonLogs().filter((o) => o.event === 'request' && o.route === '/refresh').map((o) => o.reason);
    assert.ok(reasons.includes('profile_refreshed'), `refresh logged as profile_refreshed: ${reasons.join(', ')}`);

    // both tabs side by side in one picture
    const shots = await Promise.all([first, second].map((p) => p.screenshot({ fullPage: true })));
    const board = await context.newPage();
    await board.setViewportSize({ width: 2220, height: 800 });
    await board.setContent(`<!DOCTYPE html><body style="margin:0;display:flex;gap:20px;background:#888">${
      shots.map((b, i) => `<figure style="margin:0"><figcaption style="font:16px sans-serif;padding:4px">tab ${i + 1}</figcaption>`
        + `<img style="width:1100px" src="data:image/png;base64,${b.toString('base64')}"></figure>`).join('')}</body>`);
    await board.screenshot({ path: path.join(ARTIFACTS, 'two-tabs.png'), fullPage: true });
    assert.deepEqual(problems.flat(), [], 'no script, console or CSP error, no 4xx/5xx from the Worker');
  } finally {
    if (problems.flat().length) t.diagnostic(`problems: ${problems.flat().join(' | ')}`);
    await context.close();
  }
});
