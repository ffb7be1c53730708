#!/usr/bin/env node
// Which route the CPU difference is in: complete logins (GET /login, the provider, GET /oauth,
// GET /) and page views, one client at a time, into this Worker and into bench-peer in turns,
// with the workerd CPU of each Worker (its own process and wrangler's proxy, from /proc) read
// right before and right after each of its requests. One request at a time, so each figure is
// that request's; a little work the runtime does after answering (the log line, a KV write
// finishing, collecting garbage) can land in the next request of the same Worker, unless
// `--settle MS` waits that long after each response before reading the CPU.
//
//   node tests/bench/routes.mjs [--logins N] [--views N] [--settle MS]
//        (defaults: 80 logins, 3 views each, no wait)
//
// scripts/bench.sh is the benchmark (concurrent clients, budgets); this is for finding where
// a difference it shows comes from.

import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import { Browser, startStack, startWranglerDev } from '../e2e/harness.mjs';
import { cpuBetween, sampleCpu } from './procstat.mjs';
import { prepareReferenceWorker, referenceWorkerVars } from './reference-workers.mjs';

const PORTS = { ours: 8840, peer: 8844 };
const PROVIDER_PORT = 9440;
const WORKERS = ['ours', 'peer'];
const BLOCK = 10; // logins per Worker before the other's turn

function parseArgs(argv) {
  const o = { logins: 80, views: 3, settle: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${argv[i]} needs a whole number`);
    if (argv[i] === '--logins') o.logins = value;
    else if (argv[i] === '--views') o.views = value;
    else if (argv[i] === '--settle') o.settle = value;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return o;
}

/** A browser whose requests to one Worker are measured, each under a route label. */
class MeasuredBrowser extends Browser {
  constructor(worker, pid, totals, settle) {
    super();
    this.settle = settle;
    this.worker = worker;
    this.pid = pid;
    this.totals = totals;
    this.label = (u) => `GET ${u.pathname}${u.pathname === '/' ? ' (after login)' : ''}`;
  }

  async request(url, options) {
    const u = new URL(url);
    if (u.port !== String(PORTS[this.worker])) return super.request(url, options);
    const before = sampleCpu(this.pid, PORTS[this.worker]);
    const response = await super.request(url, options);
    if (this.settle) await new Promise((resolve) => setTimeout(resolve, this.settle));
    const cpu = cpuBetween(before, sampleCpu(this.pid, PORTS[this.worker]));
    const t = (this.totals[this.label(u)] ??= { count: 0, worker: 0, proxy: 0 });
    t.count += 1;
    t.worker += cpu.byRole.worker ?? 0;
    t.proxy += cpu.byRole.proxy ?? 0;
    return response;
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const peerRef = await prepareReferenceWorker('peer');
  const redirectUri = (k) => `http://localhost:${PORTS[k]}/oauth`;
  const stack = await startStack({
    workerPort: PORTS.ours,
    providerPort: PROVIDER_PORT,
    keepOutput: false,
    extraRedirectUris: [redirectUri('peer')],
  });
  const persistDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-routes-'));
  let peer;
  try {
    peer = await startWranglerDev({
      port: PORTS.peer,
      persistDir,
      configArgs: ['--config', peerRef.config],
      wrangler: peerRef.wrangler,
      cwd: peerRef.dir,
      keepOutput: false,
      vars: referenceWorkerVars(stack, redirectUri('peer')),
    });
    const pids = { ours: stack.wranglerPid, peer: peer.pid };
    const totals = { ours: {}, peer: {} };
    const loginAndView = async (k, into) => {
      const browser = new MeasuredBrowser(k, pids[k], into, o.settle);
      const begun = await stack.beginLogin(browser, k === 'ours' ? {} : { start: `http://localhost:${PORTS.peer}/login`, redirectUri: redirectUri(k) });
      const callback = await stack.completeLogin(browser, begun.callbackUrl);
      if (callback.status !== 302) throw new Error(`${k}: GET /oauth answered ${callback.status}`);
      const home = await browser.request(`http://localhost:${PORTS[k]}/`);
      if (home.status !== 200) throw new Error(`${k}: GET / answered ${home.status}`);
      browser.label = () => 'GET / (page view)';
      for (let i = 0; i < o.views; i += 1) {
        const view = await browser.request(`http://localhost:${PORTS[k]}/`);
        if (view.status !== 200) throw new Error(`${k}: GET / answered ${view.status}`);
      }
    };
    // untimed: warm each isolate and its JIT
    for (const k of WORKERS) for (let i = 0; i < 5; i += 1) await loginAndView(k, {});
    for (let done = 0, block = 0; done < o.logins; block += 1) {
      const n = Math.min(BLOCK, o.logins - done);
      for (const k of block % 2 ? [...WORKERS].reverse() : WORKERS) {
        for (let i = 0; i < n; i += 1) await loginAndView(k, totals[k]);
      }
      done += n;
    }
    report(o, totals);
  } finally {
    await peer?.stop();
    await stack.stop();
    await fs.rm(persistDir, { recursive: true, force: true });
  }
}

function report(o, totals) {
  const per = (t, role) => (t[role] / t.count);
  const f = (n) => n.toFixed(2).padStart(6);
  const lines = [
    `workerd CPU per request, ms, mean of ${o.logins} logins (and ${o.views} page views after each) per Worker, one client; worker = the Worker's own workerd, proxy = wrangler's`,
    `${'route'.padEnd(22)} ${'ours worker + proxy'.padStart(21)} ${'peer worker + proxy'.padStart(21)} ${'ours - peer'.padStart(12)}`,
  ];
  for (const label of Object.keys(totals.ours)) {
    const a = totals.ours[label];
    const b = totals.peer[label];
    if (!b) continue;
    const sumA = per(a, 'worker') + per(a, 'proxy');
    const sumB = per(b, 'worker') + per(b, 'proxy');
    lines.push(`${label.padEnd(22)} ${f(per(a, 'worker'))} + ${f(per(a, 'proxy'))}      ${f(per(b, 'worker'))} + ${f(per(b, 'proxy'))}      ${(sumA - sumB >= 0 ? '+' : '') + (sumA - sumB).toFixed(2)}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`routes: ${err.stack ?? err}\n`);
  process.exit(2);
});
