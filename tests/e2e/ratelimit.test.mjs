// The GET /login rate limit (Workers Rate Limiting binding LOGIN_RATE_LIMITER), with the root
// wrangler.toml and its real limit, as `wrangler dev` simulates it (miniflare: an in-memory
// fixed window per key) and keyed by the CF-Connecting-IP that `wrangler dev` sets for local
// requests. Worker on 8841 / provider on 9441; a Worker without the binding on 8842 / 9442;
// and, last, a Worker without its KV binding on 8843 / 9443.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';

import {
  LOGIN_COOKIE,
  ROOT,
  ROOT_CONFIG_ARGS,
  assertSecurityHeaders,
  setCookieFor,
  sleep,
  startStack,
  textOf,
  withStack,
} from './harness.mjs';

const readConfig = (file) => fs.readFile(path.join(ROOT, file), 'utf8');

/** `limit` and `period` of the LOGIN_RATE_LIMITER binding in a wrangler config's text. */
function loginLimit(toml) {
  const block = /\[\[ratelimits\]\][^[]*?name\s*=\s*"LOGIN_RATE_LIMITER"[^[]*?simple\s*=\s*\{([^}]*)\}/.exec(toml);
  assert.ok(block, 'a [[ratelimits]] binding named LOGIN_RATE_LIMITER with simple = { limit, period }');
  const number = (name) => Number(new RegExp(`${name}\\s*=\\s*(\\d+)`).exec(block[1])?.[1]);
  return { limit: number('limit'), period: number('period') };
}

let stack;
let limit;

before(async () => {
  ({ limit } = loginLimit(await readConfig('wrangler.toml')));
  stack = await startStack({ workerPort: 8841, providerPort: 9441, configArgs: ROOT_CONFIG_ARGS });
}, { timeout: 180_000 });

after(async () => {
  await stack?.stop();
});

test('wrangler.toml: 30 logins per 60 s per address, no workers.dev; the test config differs only in the limit', async () => {
  const root = await readConfig('wrangler.toml');
  const e2e = await readConfig(path.join('tests', 'e2e', 'wrangler.toml'));
  assert.deepEqual(loginLimit(root), { limit: 30, period: 60 }, 'the documented default');
  assert.ok(loginLimit(e2e).limit >= 100_000, 'the test config raises the limit');
  assert.equal(loginLimit(e2e).period, 60);
  const line = (toml, key) => new RegExp(`^${key}\\s*=.*$`, 'm').exec(toml)?.[0];
  for (const key of ['name', 'compatibility_date', 'workers_dev', 'preview_urls', 'binding', 'id', 'namespace_id']) {
    assert.ok(line(root, key), `wrangler.toml sets ${key}`);
    assert.equal(line(e2e, key), line(root, key), `tests/e2e/wrangler.toml keeps ${key} in step`);
  }
  assert.equal(line(root, 'workers_dev'), 'workers_dev = false');
  assert.equal(line(root, 'preview_urls'), 'preview_urls = false');
});

test('GET /login from one address: 302 up to the limit, then 429 with Retry-After, a page, its log line, and no KV write', { timeout: 90_000 }, async () => {
  const mark = stack.logMark();
  const keysBefore = (await stack.kvKeys()).filter((k) => k.startsWith('login:')).length;
  const started = [];
  const refused = [];
  // A fixed window: if it turns over mid-run, the count starts again once; 2 x limit + 1
  // requests reach a 429 either way.
  for (let i = 0; i < 2 * limit + 1 && refused.length < 3; i += 1) {
    const r = await stack.newBrowser().request(stack.url('/login'));
    if (r.status === 302) started.push(r);
    else refused.push(r);
  }
  assert.ok(started.length >= limit, `at least ${limit} logins start (got ${started.length})`);
  assert.equal(refused.length, 3, `requests over the limit are refused (${started.length} started)`);

  for (const res of refused) {
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '60');
    assert.match(res.headers.get('content-type') || '', /text\/html/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assertSecurityHeaders(res, '429 page');
    assert.match(textOf(res.text), /Too many sign-in attempts/);
    assert.ok(res.text.includes('rate_limited'), 'the page names the reason code');
    assert.match(res.text, /Start again/);
    assert.equal(setCookieFor(res, LOGIN_COOKIE), null, 'no login cookie');
    assert.equal(res.location, null);
  }

  await stack.waitForLog('"status":429', mark);
  const lines = stack.jsonLogs(mark).filter((o) => o.event === 'request' && o.route === '/login');
  const limited = lines.filter((o) => o.status === 429);
  assert.equal(limited.length, refused.length, 'one log line per 429');
  for (const o of limited) {
    assert.equal(o.reason, 'rate_limited');
    assert.deepEqual([o.kv_reads, o.kv_writes, o.subrequests], [0, 0, 0], 'a 429 touches no KV');
  }
  // wrangler dev set CF-Connecting-IP and simulated the binding: no request went unlimited
  for (const o of lines) assert.equal(o.warning, undefined, `no warning in ${JSON.stringify(o)}`);
  assert.equal(lines.filter((o) => o.status === 302).length, started.length);
  const keysAfter = (await stack.kvKeys()).filter((k) => k.startsWith('login:')).length;
  assert.equal(keysAfter - keysBefore, started.length, 'one login record per started login, none for a 429');

  // Only /login is limited.
  const home = await stack.newBrowser().request(stack.url('/'));
  assert.equal(home.status, 200);
});

/**
 * Run `fn(stack)` on a Worker (port `workerPort`, provider `providerPort`) configured by the
 * root wrangler.toml's name, build and compatibility date plus `extraLines`: a config without
 * some binding, written to a temporary directory (absolute paths).
 */
async function withBareConfig(workerPort, providerPort, extraLines, fn) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bare-config-'));
  const root = await readConfig('wrangler.toml');
  const toml = [
    'name = "login-with-webex"',
    `main = ${JSON.stringify(path.join(ROOT, 'build', 'index.js'))}`,
    /^compatibility_date\s*=.*$/m.exec(root)[0],
    ...extraLines,
    '',
  ].join('\n');
  const config = path.join(dir, 'wrangler.toml');
  await fs.writeFile(config, toml);
  try {
    await withStack({ workerPort, providerPort, configArgs: ['--config', config] }, fn);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('without the LOGIN_RATE_LIMITER binding, logins are not limited and each /login log line warns', { timeout: 240_000 }, async () => {
  const kv = ['[[kv_namespaces]]', 'binding = "AUTH_KV"', 'id = "00000000000000000000000000000000"'];
  await withBareConfig(8842, 9442, kv, async (bare) => {
    const mark = bare.logMark();
    for (let i = 0; i < limit + 2; i += 1) {
      const r = await bare.newBrowser().request(bare.url('/login'));
      assert.equal(r.status, 302, `login ${i + 1} starts`);
    }
    // wrangler forwards log lines with a lag: wait for all of them
    const loginLines = () => bare.jsonLogs(mark).filter((o) => o.event === 'request' && o.route === '/login');
    for (let end = Date.now() + 10_000; loginLines().length < limit + 2 && Date.now() < end;) {
      await sleep(100);
    }
    const lines = loginLines();
    assert.equal(lines.length, limit + 2);
    for (const o of lines) {
      assert.equal(o.reason, 'login_started');
      assert.equal(o.warning, 'rate_limiter_unbound');
    }
  });
});

// Not the rate limit, but the same kind of check: a Worker deployed without its KV binding.
// (Nothing crashed: the end-of-stack log check finds the Worker's log line for each response.)
test('without the AUTH_KV binding, every route answers a 500 page naming it, and nothing crashes', { timeout: 240_000 }, async () => {
  await withBareConfig(8843, 9443, [], async (bare) => {
    const mark = bare.logMark();
    const browser = bare.newBrowser();
    for (const [method, route] of [['GET', '/'], ['GET', '/login'], ['GET', '/oauth?code=x&state=y'], ['GET', '/me'], ['POST', '/logout']]) {
      const headers = method === 'POST' ? { origin: bare.workerOrigin, 'sec-fetch-site': 'same-origin' } : {};
      const r = await browser.request(bare.url(route), { method, headers });
      assert.equal(r.status, 500, `${method} ${route}`);
      assert.match(textOf(r.text), /AUTH_KV/, `${method} ${route}: the page names the binding`);
      assertSecurityHeaders(r, `${method} ${route}`);
    }
    await bare.waitForLog('config_invalid', mark);
    const reasons = bare.jsonLogs(mark).filter((o) => o.event === 'request').map((o) => o.reason);
    assert.deepEqual([...new Set(reasons)], ['config_invalid']);
  });
});
