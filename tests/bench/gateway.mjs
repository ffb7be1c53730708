// The gateway benchmark: forwarded requests through gateway mode, next to a pass-through floor
// Worker (tests/bench/passthrough: it only fetches the upstream) and direct calls to the
// upstream, in one run:
//
//   node tests/bench/gateway.mjs [--duration SECONDS] [--concurrency N] [--smoke] [--strict]
//   (or scripts/bench.sh --gateway ...)
//
// Each phase is a closed loop of N clients for the given duration after a second of warm-up:
// requests per second, p50/p99 latency and, for the two Workers, workerd CPU per request (from
// /proc). The gateway phase runs as a signed-in user admitted by the policy, so every request
// costs a KV read, an unsealing, the policy, an ES256 signature, the forward and a log line.
// Aims (PASS/FAIL, enforced with --strict): CPU per request at most 1.5× the pass-through's,
// p50 at most 5 ms above it.
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { exportJWK, generateKeyPair } from 'jose';

import { GATEWAY_CONFIG_ARGS, SESSION_COOKIE, startStack, startWranglerDev } from '../e2e/harness.mjs';
import { Latencies, closedLoop } from './load.mjs';
import { cpuBetween, sampleCpu } from './procstat.mjs';

const UPSTREAM_PORT = 9690;
const GATEWAY_PORT = 8890;
const PROVIDER_PORT = 9490;
const PASSTHROUGH_PORT = 8891;
const AIM_CPU_RATIO = 1.5;
const AIM_P50_OVER_MS = 5;

function parseArgs(argv) {
  const o = { duration: null, concurrency: null, smoke: false, strict: false };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--duration') o.duration = Number(argv[(i += 1)]);
    else if (a === '--concurrency') o.concurrency = Number(argv[(i += 1)]);
    else if (a === '--smoke') o.smoke = true;
    else if (a === '--strict') o.strict = true;
    else throw new Error(`unknown argument ${a}`);
  }
  o.duration ??= o.smoke ? 3 : 15;
  o.concurrency ??= 4;
  return o;
}

/** A minimal origin: a short text answer, headers and body in one write, TCP_NODELAY. */
async function startUpstream() {
  let seenIdentity = 0;
  const server = http.createServer((req, res) => {
    if (req.headers['webex-assertion']) seenIdentity += 1;
    const body = `ok ${req.url}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => socket.setNoDelay(true));
  await new Promise((resolve) => { server.listen(UPSTREAM_PORT, '127.0.0.1', resolve); });
  return {
    url: `http://127.0.0.1:${UPSTREAM_PORT}`,
    seenIdentity: () => seenIdentity,
    close: () => new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

async function phase(name, { url, headers = {}, pid, port, opts }) {
  const latencies = new Latencies();
  const op = async () => {
    const t0 = performance.now();
    const res = await fetch(url, { headers, redirect: 'manual' });
    const text = await res.text();
    if (res.status !== 200 || !text.startsWith('ok /')) throw new Error(`${name}: ${res.status} ${text.slice(0, 80)}`);
    latencies.add(name, performance.now() - t0);
  };
  await closedLoop({ concurrency: opts.concurrency, durationMs: 1000, op });
  const before = pid ? sampleCpu(pid, port) : null;
  const run = await closedLoop({ concurrency: opts.concurrency, durationMs: opts.duration * 1000, op });
  const cpu = pid ? cpuBetween(before, sampleCpu(pid, port)) : null;
  // The warm-up's samples are in too; they are a second of the same steady loop.
  const lat = latencies.summary(name);
  return {
    name,
    requests: run.completed,
    failed: run.failed,
    errors: Object.fromEntries(run.errors),
    perSecond: run.completed / (run.elapsedMs / 1000),
    p50: lat?.p50 ?? NaN,
    p99: lat?.p99 ?? NaN,
    cpuMsPerRequest: cpu ? cpu.workerdMs / run.completed : null,
  };
}

async function main(opts) {
  const upstream = await startUpstream();
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const { kty, crv, x, y, d } = await exportJWK(privateKey);
  const persist = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-passthrough-'));
  let gateway;
  let passthrough;
  try {
    [gateway, passthrough] = await Promise.all([
      startStack({
        workerPort: GATEWAY_PORT,
        providerPort: PROVIDER_PORT,
        authPrefix: '/_auth',
        configArgs: GATEWAY_CONFIG_ARGS,
        keepOutput: false,
        vars: {
          UPSTREAM_URL: upstream.url,
          ALLOW_ANY_WEBEX_USER: 'true',
          ASSERTION_SIGNING_KEY: JSON.stringify({ kty, crv, x, y, d }),
        },
      }),
      startWranglerDev({
        port: PASSTHROUGH_PORT,
        configArgs: ['--config', path.join('tests', 'bench', 'passthrough', 'wrangler.toml')],
        persistDir: persist,
        keepOutput: false,
        vars: { UPSTREAM_URL: upstream.url },
      }),
    ]);
    const browser = gateway.newBrowser();
    const begun = await gateway.beginLogin(browser, { start: '/bench', headers: { 'sec-fetch-mode': 'navigate' } });
    await gateway.completeLogin(browser, begun.callbackUrl);
    const cookie = `${SESSION_COOKIE}=${browser.jar.get('localhost', SESSION_COOKIE).value}`;

    const rows = [];
    rows.push(await phase('direct', { url: `${upstream.url}/page?x=1`, opts }));
    rows.push(await phase('pass-through', { url: `http://localhost:${PASSTHROUGH_PORT}/page?x=1`, pid: passthrough.pid, port: PASSTHROUGH_PORT, opts }));
    const identityBefore = upstream.seenIdentity();
    rows.push(await phase('gateway', { url: `http://localhost:${GATEWAY_PORT}/page?x=1`, headers: { cookie }, pid: gateway.wranglerPid, port: GATEWAY_PORT, opts }));
    if (upstream.seenIdentity() - identityBefore < rows[2].requests) {
      throw new Error('the gateway forwarded requests without an identity assertion');
    }
    return report(rows, opts);
  } finally {
    await Promise.allSettled([gateway?.stop({ checkLogs: false }), passthrough?.stop()]);
    await upstream.close();
    await fs.rm(persist, { recursive: true, force: true }).catch(() => {});
  }
}

function report(rows, opts) {
  const f = (n, digits = 2) => (n === null || Number.isNaN(n) ? '-' : n.toFixed(digits));
  const lines = [
    `Gateway benchmark: ${opts.concurrency} concurrent clients, ${opts.duration} s per phase after 1 s of warm-up`,
    '',
    'phase           requests   per second   p50 ms   p99 ms   workerd CPU ms/request   errors',
  ];
  for (const r of rows) {
    lines.push(`${r.name.padEnd(15)} ${String(r.requests).padStart(8)}   ${f(r.perSecond, 0).padStart(10)}   ${f(r.p50).padStart(6)}   ${f(r.p99).padStart(6)}   ${f(r.cpuMsPerRequest, 3).padStart(22)}   ${r.failed}`);
  }
  const [, through, gw] = rows;
  const cpuRatio = gw.cpuMsPerRequest / through.cpuMsPerRequest;
  const p50Over = gw.p50 - through.p50;
  const checks = [
    [`gateway CPU per request / pass-through's: ${f(cpuRatio)}× (aim ≤ ${AIM_CPU_RATIO}×)`, cpuRatio <= AIM_CPU_RATIO],
    [`gateway p50 over pass-through: ${f(p50Over)} ms (aim ≤ ${AIM_P50_OVER_MS} ms)`, p50Over <= AIM_P50_OVER_MS],
    [`errors: ${rows.reduce((n, r) => n + r.failed, 0)} (must be 0)`, rows.every((r) => r.failed === 0)],
  ];
  lines.push('');
  for (const [text, ok] of checks) lines.push(`${ok ? 'PASS' : 'FAIL'}  ${text}`);
  for (const r of rows) if (r.failed) lines.push(`errors in ${r.name}: ${JSON.stringify(r.errors)}`);
  console.log(lines.join('\n'));
  const errorsOk = checks[2][1];
  if (!errorsOk) return 1;
  return opts.strict && checks.some(([, ok]) => !ok) ? 1 : 0;
}

main(parseArgs(process.argv.slice(2)))
  .then((code) => { process.exitCode = code; })
  .catch((err) => {
    console.error(err);
    process.exitCode = 2;
  });
