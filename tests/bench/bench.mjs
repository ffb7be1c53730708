#!/usr/bin/env node
// Benchmark of the release Worker (build/) under `wrangler dev`, against a floor Worker that
// only returns a fixed page. Run through scripts/bench.sh, or directly:
//
//   node tests/bench/bench.mjs [--duration SECONDS] [--concurrency N] [--smoke] [--strict]
//                              [--warmup SECONDS] [--json FILE]
//
// Three phases, each a closed loop of N concurrent clients for the given duration, after an
// untimed warm-up: (a) the floor (GET / of tests/bench/floor), (b) complete logins (GET /login,
// the local provider's authorize endpoint and login form, GET /oauth, GET /), (c) page views
// (GET / with the session of a completed login); between (b) and (c), untimed, 1,000 anonymous
// GET /login (200 with --smoke) for their KV cost. Measured per phase: operations per second,
// client-side latency per route, CPU time of the workerd processes (from /proc, around the
// phase), and, from the Worker's request log lines, KV reads/writes and subrequests; plus the
// wasm and upload sizes. Prints a table with budgets. Exit status: 0; 1 when there were
// errors or a counted budget (size, KV, subrequests, JWKS fetches) was missed, or, with
// --strict, any budget including the CPU ratios; 2 when the benchmark itself failed.

import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import { Browser, ROOT, SESSION_COOKIE, startStack, startWranglerDev } from '../e2e/harness.mjs';
import { measureUploadSize } from '../../scripts/upload-size.mjs';
import { Latencies, RequestLogTally, closedLoop } from './load.mjs';
import { clockTicksPerSecond, cpuBetween, sampleCpu } from './procstat.mjs';

// Ports the end-to-end tests do not use (they take 88xx/94xx below 8850/9450).
const APP_PORT = 8850;
const PROVIDER_PORT = 9450;
const FLOOR_PORT = 8852;

const PROFILE_MARKER = 'id="id-token-claims"'; // only on the signed-in profile page

const USAGE = `usage: node tests/bench/bench.mjs [options]
  --duration SECONDS   measured time per phase (default 20)
  --concurrency N      concurrent clients (default 10)
  --smoke              short run: 3 s per phase, 4 clients (unless given explicitly)
  --warmup SECONDS     untimed warm-up before each phase (default 1)
  --json FILE          also write the results as JSON
  --strict             exit 1 when any budget is missed, CPU ratios included`;

function parseArgs(argv) {
  const o = { duration: null, concurrency: null, smoke: false, strict: false, warmup: 1, json: null };
  for (let i = 0; i < argv.length; i += 1) {
    let a = argv[i];
    let value;
    if (a.startsWith('--') && a.includes('=')) {
      value = a.slice(a.indexOf('=') + 1);
      a = a.slice(0, a.indexOf('='));
    }
    const next = () => {
      if (value !== undefined) return value;
      i += 1;
      if (i >= argv.length) throw new Error(`${a} needs a value\n${USAGE}`);
      return argv[i];
    };
    const number = (v, { integer = false } = {}) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
        throw new Error(`${a} needs a positive ${integer ? 'integer' : 'number'}, got ${v}`);
      }
      return n;
    };
    switch (a) {
      case '--duration': o.duration = number(next()); break;
      case '--concurrency': o.concurrency = number(next(), { integer: true }); break;
      case '--warmup': o.warmup = number(next()); break;
      case '--json': o.json = next(); break;
      case '--smoke': o.smoke = true; break;
      case '--strict': o.strict = true; break;
      case '-h': case '--help': o.help = true; break;
      default: throw new Error(`unknown argument ${argv[i]}\n${USAGE}`);
    }
  }
  o.duration ??= o.smoke ? 3 : 20;
  o.concurrency ??= o.smoke ? 4 : 10;
  return o;
}

const say = (msg) => process.stderr.write(`bench: ${msg}\n`);

/** Fails early when something already listens on a port this benchmark needs. */
async function assertPortsFree(ports) {
  for (const port of ports) {
    await new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once('error', (err) => reject(new Error(`port ${port} on 127.0.0.1 is not free (${err.code}); is another benchmark running?`)));
      server.listen(port, '127.0.0.1', () => server.close(resolve));
    });
  }
}

// ---------------------------------------------------------------------------------------------
// A browser that times each request and counts the Worker's responses

class TimedBrowser extends Browser {
  constructor(ctx, rootLabel) {
    super();
    this.ctx = ctx;
    this.rootLabel = rootLabel;
  }

  async request(url, options) {
    const u = new URL(url);
    const t0 = performance.now();
    const r = await super.request(u, options);
    this.ctx.observe(u, performance.now() - t0, this.rootLabel);
    return r;
  }
}

// ---------------------------------------------------------------------------------------------
// Running

async function main(opts) {
  const ctx = {
    latencies: null, // the measured phase's Latencies; null during warm-ups
    appResponses: 0, // responses of the Worker under test, warm-ups included
    observe(u, ms, rootLabel) {
      const port = Number(u.port);
      let label;
      if (port === APP_PORT) {
        ctx.appResponses += 1;
        label = u.pathname === '/' ? rootLabel : u.pathname;
      } else if (port === FLOOR_PORT) {
        label = '/ (floor)';
      } else {
        label = 'provider';
      }
      ctx.latencies?.add(label, ms);
    },
  };
  const errors = { failedOps: 0, messages: new Map(), logStatus: 0, logStatusSamples: [], missingLogLines: 0 };
  const addFailures = (run) => {
    errors.failedOps += run.failed;
    for (const [k, n] of run.errors) errors.messages.set(k, (errors.messages.get(k) || 0) + n);
  };

  // Sizes first: no servers needed.
  say('measuring sizes (wrangler deploy --dry-run)');
  const wasm = await fs.readFile(path.join(ROOT, 'build', 'index_bg.wasm'));
  const sizes = {
    wasmBytes: wasm.length,
    wasmGzipBytes: zlib.gzipSync(wasm, { level: 9 }).length,
    upload: await measureUploadSize(),
  };

  // Servers: the Worker + provider, and the floor, started together. wrangler's inspectors
  // listen on port + 1000.
  await assertPortsFree([APP_PORT, APP_PORT + 1000, PROVIDER_PORT, FLOOR_PORT, FLOOR_PORT + 1000]);
  const stoppers = [];
  const groups = new Set();
  const killGroups = () => {
    for (const pid of groups) {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
    }
  };
  process.on('exit', killGroups); // last resort: never leave wrangler/workerd behind
  const tempDirs = [];
  const stopAll = async () => {
    await Promise.allSettled(stoppers.splice(0).map((f) => f()));
    await Promise.allSettled(tempDirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
  };
  let startup = null; // servers still starting are stopped once they are up
  let interrupted = false;
  const onSignal = (sig) => {
    if (interrupted) return;
    interrupted = true;
    say(`${sig}: stopping`);
    Promise.resolve(startup).then(stopAll).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const tally = new RequestLogTally();
  const floorPersist = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-floor-'));
  tempDirs.push(floorPersist);
  say(`starting the Worker on ${APP_PORT} (provider on ${PROVIDER_PORT}) and the floor on ${FLOOR_PORT}`);
  startup = Promise.allSettled([
    startStack({
      workerPort: APP_PORT,
      providerPort: PROVIDER_PORT,
      keepOutput: false,
      onOutputLine: (line) => tally.onLine(line),
    }),
    startWranglerDev({
      port: FLOOR_PORT,
      configArgs: ['--config', path.join('tests', 'bench', 'floor', 'wrangler.toml')],
      persistDir: floorPersist,
      keepOutput: false,
    }),
  ]).then((settled) => {
    for (const s of settled) {
      if (s.status === 'fulfilled') {
        stoppers.push(s.value.stop);
        groups.add(s.value.wranglerPid ?? s.value.pid);
      }
    }
    return settled;
  });
  const started = await startup;
  if (interrupted) await new Promise(() => {}); // the signal handler stops everything and exits
  const failedStart = started.find((s) => s.status === 'rejected');
  try {
    if (failedStart) throw failedStart.reason;
    const [stack, floor] = started.map((s) => s.value);
    // startStack's readiness probe (GET /) was the Worker's first request, with its log line
    ctx.appResponses += 1;
    const provider = stack.provider;
    const appUrl = stack.url('/');
    const floorUrl = `http://localhost:${FLOOR_PORT}/`;
    const durationMs = opts.duration * 1000;
    const warmupMs = opts.warmup * 1000;
    const { concurrency } = opts;

    /** One measured phase: warm-up, then CPU sample, closed loop, CPU sample. */
    const runPhase = async ({ name, op, cpuOf, logged }) => {
      say(`${name}: warm-up ${opts.warmup} s`);
      ctx.latencies = null;
      addFailures(await closedLoop({ concurrency, durationMs: warmupMs, op }));
      if (logged) {
        // the previous requests' log lines must not land in this phase
        await tally.waitFor(ctx.appResponses);
        tally.begin();
      }
      const responsesBefore = ctx.appResponses;
      const latencies = new Latencies();
      ctx.latencies = latencies;
      const providerBefore = { ...provider.stats };
      say(`${name}: ${opts.duration} s at concurrency ${concurrency}`);
      const cpu0 = sampleCpu(cpuOf.pid, cpuOf.port);
      const self0 = process.cpuUsage();
      const run = await closedLoop({ concurrency, durationMs, op });
      let log = null;
      if (logged) await tally.waitFor(ctx.appResponses);
      const cpu = cpuBetween(cpu0, sampleCpu(cpuOf.pid, cpuOf.port));
      const self = process.cpuUsage(self0);
      cpu.byRole.bench = (self.user + self.system) / 1000; // this process: the clients and the provider
      ctx.latencies = null;
      if (logged) {
        log = tally.end();
        errors.logStatus += log.statusErrors;
        errors.logStatusSamples.push(...log.statusErrorSamples);
      }
      addFailures(run);
      const providerCalls = {};
      for (const k of ['authorize', 'interaction', 'token', 'userinfo', 'jwks']) providerCalls[k] = provider.stats[k] - providerBefore[k];
      const ops = run.completed;
      return {
        name,
        ops,
        failed: run.failed,
        seconds: run.elapsedMs / 1000,
        perSecond: ops / (run.elapsedMs / 1000),
        workerResponses: ctx.appResponses - responsesBefore,
        cpu: { ...cpu, perOpMs: cpu.workerdMs / ops, perOpByRole: Object.fromEntries(Object.entries(cpu.byRole).map(([k, v]) => [k, v / ops])) },
        latency: Object.fromEntries(latencies.labels().map((l) => [l, latencies.summary(l)])),
        log,
        providerCalls,
      };
    };

    const check = (cond, message) => {
      if (!cond) throw new Error(message);
    };

    /** A complete login with a new browser; resolves to the signed-in browser. */
    const login = async () => {
      const browser = new TimedBrowser(ctx, '/ (after login)');
      const begun = await stack.beginLogin(browser);
      const callback = await stack.completeLogin(browser, begun.callbackUrl);
      check(callback.status === 302 && callback.location && new URL(callback.location).pathname === '/',
        `GET /oauth answered ${callback.status} (Location ${callback.location})`);
      check(browser.jar.get('localhost', SESSION_COOKIE), 'GET /oauth set no session cookie');
      const home = await browser.request(appUrl);
      check(home.status === 200, `GET / after login answered ${home.status}`);
      check(home.text.includes(PROFILE_MARKER), 'GET / after login shows no profile (missing session)');
      browser.rootLabel = '/ (page view)';
      return browser;
    };

    // (a) the floor
    const floorBrowsers = Array.from({ length: concurrency }, () => new TimedBrowser(ctx, '/ (floor)'));
    let floorPage = null;
    const floorResult = await runPhase({
      name: 'floor',
      cpuOf: { pid: floor.pid, port: FLOOR_PORT },
      logged: false,
      op: async (i) => {
        const r = await floorBrowsers[i].request(floorUrl);
        check(r.status === 200, `floor GET / answered ${r.status}`);
        floorPage ??= r.text;
        check(r.text === floorPage, 'floor GET / answered another page');
      },
    });

    // (b) complete logins
    const jwksBeforeLogins = provider.stats.jwks;
    const loginResult = await runPhase({
      name: 'logins',
      cpuOf: { pid: stack.wranglerPid, port: APP_PORT },
      logged: true,
      op: async () => { await login(); },
    });
    const jwksInLoginWarmup = provider.stats.jwks - jwksBeforeLogins - loginResult.providerCalls.jwks;

    // (b') anonymous GET /login: what a flood of started-but-never-finished logins costs in
    // KV (the benchmark's config raises the rate limit, so none is refused)
    const anonymousCount = opts.smoke ? 200 : 1000;
    say(`anonymous logins: ${anonymousCount} x GET /login without a cookie`);
    await tally.waitFor(ctx.appResponses);
    tally.begin();
    let anonymousSent = 0;
    addFailures(await closedLoop({
      concurrency,
      durationMs: 10 * 60_000,
      // the count is taken before the op's first await, so exactly anonymousCount are sent
      until: () => anonymousSent >= anonymousCount,
      op: async () => {
        anonymousSent += 1;
        const r = await new TimedBrowser(ctx, '/').request(stack.url('/login'));
        check(r.status === 302, `anonymous GET /login answered ${r.status}`);
      },
    }));
    await tally.waitFor(ctx.appResponses);
    const anonymousLog = tally.end();
    errors.logStatus += anonymousLog.statusErrors;
    errors.logStatusSamples.push(...anonymousLog.statusErrorSamples);
    const anonymous = { requests: anonymousLog.requests, kvWrites: anonymousLog.kvWrites, kvReads: anonymousLog.kvReads };

    // (c) page views, each client with the session of its own fresh login
    say('page views: one login per client first');
    const sessions = await Promise.allSettled(Array.from({ length: concurrency }, () => login()));
    const sessionBrowsers = [];
    for (const s of sessions) {
      if (s.status === 'fulfilled') {
        sessionBrowsers.push(s.value);
      } else {
        addFailures({ failed: 1, errors: new Map([[String(s.reason?.message ?? s.reason).split('\n')[0], 1]]) });
      }
    }
    check(sessionBrowsers.length > 0, 'no login succeeded, so there is no session for the page views');
    const pageViewResult = await runPhase({
      name: 'page views',
      cpuOf: { pid: stack.wranglerPid, port: APP_PORT },
      logged: true,
      op: async (i) => {
        const r = await sessionBrowsers[i % sessionBrowsers.length].request(appUrl);
        check(r.status === 200, `GET / (page view) answered ${r.status}`);
        check(r.text.includes(PROFILE_MARKER), 'GET / (page view) shows no profile (missing session)');
      },
    });

    // every Worker response must have had its log line
    await tally.waitFor(ctx.appResponses, 5_000);
    errors.missingLogLines = Math.max(0, ctx.appResponses - tally.lines);
    return {
      opts,
      sizes,
      floor: floorResult,
      logins: loginResult,
      anonymous,
      pageViews: pageViewResult,
      jwks: { total: provider.stats.jwks, inLoginPhase: loginResult.providerCalls.jwks, inLoginWarmup: jwksInLoginWarmup },
      errors,
      runtimeErrors: tally.runtimeErrors,
      tickMs: 1000 / clockTicksPerSecond(),
    };
  } finally {
    say('stopping');
    await stopAll();
    process.off('exit', killGroups);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function evaluate(r) {
  const { logins: L, pageViews: V, floor: F } = r;
  const errorsTotal = r.errors.failedOps + r.errors.logStatus + r.errors.missingLogLines;
  const floorCpu = F.cpu.perOpMs;
  const steadySubrequests = L.log.subrequests - L.providerCalls.jwks;
  const budgets = [
    { counted: true, figure: 'gzip upload', value: r.sizes.upload.gzipBytes / 1000, unit: 'KB', budget: '<= 150 KB', pass: r.sizes.upload.gzipBytes / 1000 <= 150 },
    { figure: 'CPU per login / floor', value: L.cpu.perOpMs / floorCpu, unit: 'x', budget: '<= 8x', pass: L.cpu.perOpMs / floorCpu <= 8 },
    { figure: 'CPU per page view / floor', value: V.cpu.perOpMs / floorCpu, unit: 'x', budget: '<= 1.3x', pass: V.cpu.perOpMs / floorCpu <= 1.3 },
    { counted: true, figure: 'subrequests per login (steady)', value: steadySubrequests / L.ops, budget: '= 2', pass: steadySubrequests === 2 * L.ops },
    { counted: true, figure: 'JWKS fetches in the run', value: r.jwks.total, budget: '<= 1', pass: r.jwks.total <= 1 },
    { counted: true, figure: 'KV reads per login', value: L.log.kvReads / L.ops, budget: '<= 2', pass: L.log.kvReads <= 2 * L.ops },
    { counted: true, figure: 'KV writes per login', value: L.log.kvWrites / L.ops, budget: '<= 3', pass: L.log.kvWrites <= 3 * L.ops },
    { counted: true, figure: 'KV reads per page view', value: V.log.kvReads / V.ops, budget: '= 1', pass: V.log.kvReads === V.ops },
    { counted: true, figure: 'KV writes per page view', value: V.log.kvWrites / V.ops, budget: '= 0', pass: V.log.kvWrites === 0 },
    { counted: true, figure: 'errors', value: errorsTotal, budget: '= 0', pass: errorsTotal === 0 },
  ];
  for (const b of budgets) {
    if (!Number.isFinite(b.value)) b.pass = false; // e.g. no operation completed
  }
  return { errorsTotal, steadySubrequests, budgets };
}

const fmt = (v, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

function table(rows, { rightFrom = 1 } = {}) {
  const widths = [];
  for (const row of rows) row.forEach((c, i) => { widths[i] = Math.max(widths[i] || 0, String(c).length); });
  return rows.map((row) => row.map((c, i) => (i < rightFrom ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
    .join('  ').trimEnd()).join('\n');
}

function report(r, ev) {
  const { logins: L, pageViews: V, floor: F } = r;
  const out = [];
  out.push(`Benchmark: ${r.opts.concurrency} concurrent clients, ${r.opts.duration} s per phase after ${r.opts.warmup} s of warm-up`
    + ` (release Worker in wrangler dev, local KV, local provider)`);
  out.push('');
  out.push(table([
    ['phase', 'operations', 'seconds', 'per second', 'errors'],
    ['floor (GET /)', F.ops, fmt(F.seconds, 1), fmt(F.perSecond, 1), F.failed],
    ['logins', L.ops, fmt(L.seconds, 1), fmt(L.perSecond, 1), L.failed],
    ['page views', V.ops, fmt(V.seconds, 1), fmt(V.perSecond, 1), V.failed],
  ]));
  out.push('');

  const lat = (phase, label) => phase.latency[label];
  const floorLat = lat(F, '/ (floor)');
  const latRows = [['latency at the client (ms)', 'count', 'p50', 'p95', 'p99', 'p50/floor', 'p99/floor']];
  const latRow = (name, s, ratio) => latRows.push([name, s?.count ?? 0, fmt(s?.p50, 1), fmt(s?.p95, 1), fmt(s?.p99, 1),
    ratio && s ? `${fmt(s.p50 / floorLat.p50, 1)}x` : '', ratio && s ? `${fmt(s.p99 / floorLat.p99, 1)}x` : '']);
  latRow('GET /login', lat(L, '/login'), true);
  latRow('GET /oauth (waits on the provider)', lat(L, '/oauth'), false);
  latRow('GET / (after login)', lat(L, '/ (after login)'), true);
  latRow('GET / (page view)', lat(V, '/ (page view)'), true);
  latRow('GET / (floor)', floorLat, false);
  latRow('provider requests during logins', lat(L, 'provider'), false);
  out.push(table(latRows));
  out.push('');

  const role = (c, r) => fmt(c.perOpByRole[r], 3);
  const cpuRow = (name, c) => [name, fmt(c.perOpMs, 3), role(c, 'worker'), role(c, 'proxy'),
    `${fmt(c.perOpMs / F.cpu.perOpMs, 2)}x`, role(c, 'wrangler'), role(c, 'bench')];
  out.push(table([
    ['CPU, ms per operation', 'workerd', '(worker', 'proxy)', 'vs floor', 'wrangler node', 'client+provider'],
    cpuRow('per login', L.cpu),
    cpuRow('per page view', V.cpu),
    cpuRow('per floor request', F.cpu),
  ]));
  out.push(`(utime+stime from /proc, ${r.tickMs} ms ticks, of the ${L.cpu.workerdProcesses} workerd processes under each wrangler dev:`
    + ` the Worker's and wrangler's proxy in front of it; ${fmt(L.cpu.workerdMs, 0)} / ${fmt(V.cpu.workerdMs, 0)} / ${fmt(F.cpu.workerdMs, 0)} ms`
    + ' in the login / page view / floor phases. wrangler node and client+provider (this process) are for context only.)');
  out.push('');

  const perOp = (v, n) => fmt(v / n, 2);
  out.push(table([
    ['from the Worker\'s log lines', 'per login', 'per page view'],
    ['Worker requests', perOp(L.log.requests, L.ops), perOp(V.log.requests, V.ops)],
    ['subrequests', perOp(L.log.subrequests, L.ops), perOp(V.log.subrequests, V.ops)],
    ['subrequests without JWKS fetches', perOp(ev.steadySubrequests, L.ops), ''],
    ['KV reads', perOp(L.log.kvReads, L.ops), perOp(V.log.kvReads, V.ops)],
    ['KV writes', perOp(L.log.kvWrites, L.ops), perOp(V.log.kvWrites, V.ops)],
  ]));
  const A = r.anonymous;
  out.push(`anonymous GET /login (no cookie, never finished): ${fmt((A.kvWrites / A.requests) * 1000, 0)} KV writes and`
    + ` ${fmt((A.kvReads / A.requests) * 1000, 0)} KV reads per 1,000 requests (${A.requests} requests, limit raised)`);
  out.push(`provider calls per login: token ${perOp(L.providerCalls.token, L.ops)}, userinfo ${perOp(L.providerCalls.userinfo, L.ops)};`
    + ` JWKS fetches: ${r.jwks.total} in the run (${r.jwks.inLoginWarmup} in the login warm-up, ${r.jwks.inLoginPhase} in the measured logins)`);
  out.push('');

  out.push(table([
    ['size', 'bytes', 'KB'],
    ['build/index_bg.wasm', r.sizes.wasmBytes, fmt(r.sizes.wasmBytes / 1000, 1)],
    ['build/index_bg.wasm, gzip -9', r.sizes.wasmGzipBytes, fmt(r.sizes.wasmGzipBytes / 1000, 1)],
    ['upload (wrangler deploy --dry-run)', r.sizes.upload.rawBytes, fmt(r.sizes.upload.rawBytes / 1000, 1)],
    ['upload, gzip', r.sizes.upload.gzipBytes, fmt(r.sizes.upload.gzipBytes / 1000, 1)],
  ]));
  out.push('');

  out.push(table([
    ['budget', 'value', 'budget', 'result'],
    ...ev.budgets.map((b) => [b.figure, `${fmt(b.value, Number.isInteger(b.value) ? 0 : 2)}${b.unit === 'x' ? 'x' : b.unit ? ` ${b.unit}` : ''}`, b.budget, b.pass ? 'PASS' : 'FAIL']),
  ]));
  const e = r.errors;
  if (ev.errorsTotal > 0) {
    out.push('');
    out.push(`errors: ${e.failedOps} failed operations, ${e.logStatus} Worker log lines with status >= 400,`
      + ` ${e.missingLogLines} Worker responses without a log line`);
    for (const [k, n] of [...e.messages].sort((a, b) => b[1] - a[1]).slice(0, 10)) out.push(`  ${n} x ${k}`);
    for (const s of e.logStatusSamples.slice(0, 5)) out.push(`  log: ${s}`);
    for (const s of r.runtimeErrors ?? []) out.push(`  wrangler: ${s}`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`bench: ${err.message}`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}

try {
  const result = await main(opts);
  const ev = evaluate(result);
  console.log(report(result, ev));
  const failedBudgets = ev.budgets.filter((b) => !b.pass).map((b) => b.figure);
  // Counted budgets (sizes, subrequests, KV operations, JWKS fetches, errors) do not depend
  // on the machine: a miss always fails. CPU ratios are measurements: only with --strict.
  const failedCounted = ev.budgets.filter((b) => !b.pass && b.counted);
  let exitCode = 0;
  if (ev.errorsTotal > 0 || failedCounted.length) exitCode = 1;
  if (opts.strict && failedBudgets.length) exitCode = 1;
  if (opts.json) {
    const errors = { ...result.errors, messages: Object.fromEntries(result.errors.messages), total: ev.errorsTotal };
    await fs.writeFile(opts.json, `${JSON.stringify({ ...result, errors, budgets: ev.budgets, exitCode }, null, 2)}\n`);
  }
  if (failedBudgets.length) {
    console.log(`\n${failedBudgets.length} budget(s) missed: ${failedBudgets.join(', ')}${opts.strict || failedCounted.length ? '' : ' (CPU ratios: exit status unaffected without --strict)'}`);
  }
  process.exitCode = exitCode;
} catch (err) {
  console.error(`bench: failed: ${err.stack || err.message}`);
  process.exitCode = 2;
}
