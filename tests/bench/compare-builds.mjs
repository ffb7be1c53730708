#!/usr/bin/env node
// Two builds of this Worker side by side, to tell whether a change saves CPU: each under its
// own `wrangler dev` (the benchmark's config), the same requests to each in turns, the workerd
// CPU of each share read from /proc. Prints B's CPU over A's per round: the median and the
// quartiles. Two copies of one build measure 0.99 (0.93–1.01) here, so a few per cent is
// what it can tell apart, where one `scripts/bench.sh` moves by 5–10 %.
//
//   node tests/bench/compare-builds.mjs --a DIR --b DIR [--route /login] [--signed-in]
//        [--rounds N] [--requests N] [--b-without-rate-limiter]
//
// DIR is a folder with a build's index.js (as worker-build writes it, e.g. `build/`). The
// route is requested without cookies (GET /login starts a login; GET / is the sign-in page),
// or with `--signed-in` with the session cookie of a login made first on each side (GET / is
// then a page view).

import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import { Browser, ROOT, SESSION_COOKIE, startStack } from '../e2e/harness.mjs';
import { cpuBetween, sampleCpu } from './procstat.mjs';

const PORTS = { A: 8840, B: 8842 };

function parseArgs(argv) {
  const o = { a: null, b: null, route: '/login', rounds: 12, requests: 200, bWithoutRateLimiter: false, signedIn: false };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    if (flag === '--b-without-rate-limiter' || flag === '--signed-in') {
      if (flag === '--signed-in') o.signedIn = true;
      else o.bWithoutRateLimiter = true;
      continue;
    }
    const value = argv[i + 1];
    i += 1;
    if (flag === '--a') o.a = path.resolve(value);
    else if (flag === '--b') o.b = path.resolve(value);
    else if (flag === '--route') o.route = value;
    else if (flag === '--rounds') o.rounds = Number(value);
    else if (flag === '--requests') o.requests = Number(value);
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!o.a || !o.b) throw new Error('--a DIR and --b DIR are needed');
  if (!Number.isInteger(o.rounds) || o.rounds < 2 || !Number.isInteger(o.requests) || o.requests < 2) {
    throw new Error('--rounds and --requests need whole numbers of at least 2');
  }
  return o;
}

/** The benchmark's wrangler config with `main` pointing at `buildDir`, no build step. */
async function configFor(buildDir, withoutRateLimiter) {
  const base = await fs.readFile(path.join(ROOT, 'tests', 'e2e', 'wrangler.toml'), 'utf8');
  let text = base
    .replace(/^main = .*$/m, `main = ${JSON.stringify(path.join(buildDir, 'index.js'))}`)
    .replace(/^\[build\][\s\S]*?(?=^\[\[)/m, '');
  if (withoutRateLimiter) text = text.replace(/^\[\[ratelimits\]\][\s\S]*$/m, '');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'compare-builds-'));
  await fs.writeFile(path.join(dir, 'wrangler.toml'), text);
  return { file: path.join(dir, 'wrangler.toml'), dir };
}

async function requests(port, route, n, cookie) {
  const headers = cookie ? { cookie } : {};
  const client = async (count) => {
    for (let i = 0; i < count; i += 1) {
      const r = await fetch(`http://localhost:${port}${route}`, { redirect: 'manual', headers });
      await r.arrayBuffer();
      if (r.status >= 500) throw new Error(`GET ${route} answered ${r.status}`);
    }
  };
  await Promise.all([client(Math.ceil(n / 2)), client(Math.floor(n / 2))]);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const configs = {};
  const stacks = {};
  try {
    for (const k of ['A', 'B']) {
      configs[k] = await configFor(k === 'A' ? o.a : o.b, k === 'B' && o.bWithoutRateLimiter);
      stacks[k] = await startStack({
        workerPort: PORTS[k],
        providerPort: PORTS[k] + 600,
        keepOutput: false,
        configArgs: ['--config', configs[k].file],
      });
    }
    const cookies = {};
    if (o.signedIn) {
      for (const k of ['A', 'B']) {
        const browser = new Browser();
        await stacks[k].login(browser);
        const session = browser.jar.get('localhost', SESSION_COOKIE);
        if (!session) throw new Error(`${k}: the login opened no session`);
        cookies[k] = `${SESSION_COOKIE}=${session.value}`;
      }
    }
    for (const k of ['A', 'B']) await requests(PORTS[k], o.route, 300, cookies[k]); // untimed: warm the JIT
    const shares = { A: [], B: [] };
    for (let round = 0; round < o.rounds; round += 1) {
      for (const k of round % 2 ? ['B', 'A'] : ['A', 'B']) {
        const before = sampleCpu(stacks[k].wranglerPid, PORTS[k]);
        await requests(PORTS[k], o.route, o.requests, cookies[k]);
        const cpu = cpuBetween(before, sampleCpu(stacks[k].wranglerPid, PORTS[k]));
        shares[k].push({ worker: (cpu.byRole.worker ?? 0) / o.requests, proxy: (cpu.byRole.proxy ?? 0) / o.requests });
      }
    }
    const sorted = (xs) => xs.slice().sort((x, y) => x - y);
    const median = (xs) => sorted(xs)[Math.floor(xs.length / 2)];
    const lines = [`GET ${o.route}${o.signedIn ? ' (signed in)' : ''}, ${o.rounds} rounds of ${o.requests} per build, 2 clients; workerd CPU per request, ms, median of the rounds`];
    for (const k of ['A', 'B']) {
      const w = median(shares[k].map((s) => s.worker));
      const p = median(shares[k].map((s) => s.proxy));
      lines.push(`${k} ${k === 'A' ? o.a : o.b}${k === 'B' && o.bWithoutRateLimiter ? ' (without the rate limiter)' : ''}: worker ${w.toFixed(3)} + proxy ${p.toFixed(3)}`);
    }
    const ratios = sorted(shares.B.map((b, i) => (b.worker + b.proxy) / (shares.A[i].worker + shares.A[i].proxy)));
    const q = (f) => ratios[Math.min(ratios.length - 1, Math.floor(f * ratios.length))];
    lines.push(`B / A: ${median(ratios).toFixed(3)} (quartiles ${q(0.25).toFixed(3)}–${q(0.75).toFixed(3)})`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const k of ['A', 'B']) await stacks[k]?.stop();
    for (const k of ['A', 'B']) if (configs[k]) await fs.rm(configs[k].dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`compare-builds: ${err.stack ?? err}\n`);
  process.exit(2);
});
