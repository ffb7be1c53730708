// A real browser (Chromium via playwright-core) through the whole login.
// Worker on 8805, provider on 9405. Screenshots go to test-artifacts/ (git-ignored).
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { after, before, test } from 'node:test';


import { DEMO_USER } from '../provider/provider.mjs';
import { ARTIFACTS, launchChromium, watchPage } from './chromium.mjs';
import { SESSION_COOKIE, startStack } from '../e2e/harness.mjs';


let stack;
let browser;

before(async () => {
  stack = await startStack({ workerPort: 8805, providerPort: 9405 });
  browser = await launchChromium();
}, { timeout: 180_000 });

after(async () => {
  await browser?.close();
  await stack?.stop();
});

test('sign in with Webex in a real browser, see the profile, hit an error page, sign out', { timeout: 120_000 }, async (t) => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  // The deliberate bad callback below answers 400; anything else of 400 or more is a problem.
  const problems = watchPage(page, { stack, allowed: ['GET /oauth 400'] });

  try {
    // signed out
    const first = await page.goto(stack.url('/'));
    assert.equal(first.status(), 200);
    await page.getByText('Sign in with Webex').first().waitFor();
    // The linked stylesheet loaded, passed its integrity check and the policy, and applies.
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(245, 247, 249)',
      'the stylesheet applies (body background)');
    await page.screenshot({ path: path.join(ARTIFACTS, 'login.png'), fullPage: true });

    // -> provider login form
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(`${stack.provider.url}/interaction/`)),
      page.getByText('Sign in with Webex').first().click(),
    ]);
    await page.fill('input[name="login"]', 'demo');
    await page.fill('input[name="password"]', 'demo');
    await Promise.all([
      page.waitForURL(stack.url('/'), { timeout: 30_000 }),
      page.click('button[type="submit"]'),
    ]);

    // profile
    await page.locator('#id-token-claims').waitFor();
    const body = await page.locator('body').innerText();
    assert.ok(body.includes(DEMO_USER.name), 'profile shows Demo User');
    assert.ok(body.includes(DEMO_USER.email), 'profile shows the email');
    assert.ok((await page.locator('#userinfo').innerText()).includes(DEMO_USER.name));
    assert.ok((await page.locator('#id-token-claims').innerText()).includes(DEMO_USER.sub));
    await page.screenshot({ path: path.join(ARTIFACTS, 'profile.png'), fullPage: true });

    const cookies = await context.cookies(stack.url('/'));
    const session = cookies.find((c) => c.name === SESSION_COOKIE);
    assert.ok(session, 'the browser accepted the __Host- session cookie on http://localhost');
    assert.ok(session.httpOnly && session.secure, 'session cookie HttpOnly and Secure');
    assert.equal(await page.evaluate(() => document.cookie), '', 'no cookie readable from script');

    // error page
    const err = await page.goto(stack.url('/oauth?state=bogus&code=bogus'));
    assert.equal(err.status(), 400);
    await page.getByText('Start again').first().waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'error.png'), fullPage: true });

    // back to the profile (a bogus callback must not end the session), then sign out
    await page.goto(stack.url('/'));
    await page.locator('#id-token-claims').waitFor();
    const [logoutResponse] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/logout'),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    const sent = await logoutResponse.request().allHeaders();
    assert.equal(logoutResponse.status(), 302,
      `POST /logout from the Sign out button answered ${logoutResponse.status()} `
      + `(browser sent Origin: ${sent.origin}, Sec-Fetch-Site: ${sent['sec-fetch-site']})`);
    await page.waitForURL(stack.url('/?signed_out'));
    await page.getByText('You are signed out').first().waitFor({ timeout: 10_000 });
    await page.getByText('Sign in with Webex').first().waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#id-token-claims').count(), 0, 'signed out: no profile');
    assert.equal((await context.cookies(stack.url('/'))).some((c) => c.name === SESSION_COOKIE), false,
      'session cookie removed');
    assert.deepEqual(problems, [], 'no script, console or CSP error, no unexpected 4xx/5xx from the Worker');
  } finally {
    if (problems.length) t.diagnostic(`problems: ${problems.join(' | ')}`);
    await context.close();
  }
});
