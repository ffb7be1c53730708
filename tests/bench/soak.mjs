#!/usr/bin/env node
// A soak run: many clients signing in, viewing, refreshing (with refresh-token rotation) and
// signing out at once, for long enough to meet a rare race. It must end with 0 failed
// operations, no 5xx, no response the runtime gave instead of the Worker (a crash), one log
// line per response and no secret in the logs.
//
//   node tests/bench/soak.mjs [--duration SECONDS] [--concurrency N]    (defaults: 120, 20)
//
// Worker on 8860 (inspector 9860), provider on 9460. Exit status 1 on any failure.
import { after, test } from 'node:test';
import { strict as assert } from 'node:assert';

import { SESSION_COOKIE, isProfile, samePost, startStack } from '../e2e/harness.mjs';
import { closedLoop } from './load.mjs';

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const DURATION_S = option('--duration', Number(process.env.SOAK_SECONDS || 120));
const CONCURRENCY = option('--concurrency', Number(process.env.SOAK_CLIENTS || 20));

let stack;
// stop() ends with the log check (one line per response, no secret), waiting up to 30 s for
// the last lines of a long run.
after(async () => { await stack?.stop(); });

test(`soak: ${CONCURRENCY} clients for ${DURATION_S} s of logins, views, /me, refreshes and logouts`, { timeout: (DURATION_S + 240) * 1000 }, async (t) => {
  stack = await startStack({ workerPort: 8860, providerPort: 9460, logCheckTimeoutMs: 30_000 });
  const op = stack.provider;
  op.setAccessTokenTtl(30); // every refresh uses the refresh grant
  op.setRotateRefreshToken(true); // and spends the refresh token

  const clients = Array.from({ length: CONCURRENCY }, () => ({ browser: null }));
  const counts = { login: 0, view: 0, me: 0, refresh: 0, logout: 0 };
  const check = (cond, message) => { if (!cond) throw new Error(message); };

  const step = async (i) => {
    const client = clients[i];
    if (!client.browser) {
      const browser = stack.newBrowser();
      const { home } = await stack.login(browser);
      check(isProfile(home), `login ended on ${home.status} without a profile`);
      client.browser = browser;
      counts.login += 1;
      return;
    }
    const { browser } = client;
    const dice = Math.random();
    if (dice < 0.55) {
      const r = await browser.request(stack.url('/'));
      check(isProfile(r), `GET / answered ${r.status} without a profile`);
      counts.view += 1;
    } else if (dice < 0.7) {
      const r = await browser.request(stack.url('/me'));
      check(r.status === 200 && JSON.parse(r.text).sub, `GET /me answered ${r.status}`);
      counts.me += 1;
    } else if (dice < 0.9) {
      const r = await samePost(stack, browser, '/refresh');
      check(r.status === 302 && new URL(r.location).pathname === '/', `POST /refresh answered ${r.status}`);
      check(browser.jar.get('localhost', SESSION_COOKIE), 'POST /refresh ended the session');
      counts.refresh += 1;
    } else {
      const r = await samePost(stack, browser, '/logout');
      check(r.status === 302, `POST /logout answered ${r.status}`);
      const after = await browser.request(stack.url('/'));
      check(after.status === 200 && !isProfile(after), 'signed in after logout');
      client.browser = null;
      counts.logout += 1;
    }
  };

  const run = await closedLoop({ concurrency: CONCURRENCY, durationMs: DURATION_S * 1000, op: step, opTimeoutMs: 60_000 });
  const ops = Object.values(counts).reduce((a, b) => a + b, 0);
  const summary = `${ops} operations in ${(run.elapsedMs / 1000).toFixed(0)} s: ${JSON.stringify(counts)}; `
    + `${op.stats.refreshGrantsOk}/${op.stats.refreshGrants} refresh grants succeeded; ${stack.workerResponses.length} Worker responses`;
  t.diagnostic(summary);
  console.log(`soak: ${summary}`);
  assert.equal(run.failed, 0, `failed operations: ${JSON.stringify(Object.fromEntries(run.errors))}`);
  assert.deepEqual(stack.workerResponses.filter((r) => r.status >= 500), [], 'no 5xx');
  assert.equal(op.stats.refreshGrantsOk, op.stats.refreshGrants, 'every refresh grant succeeded');
  assert.ok(counts.login > 0 && counts.refresh > 0 && counts.logout > 0, 'every kind of operation ran');
});
