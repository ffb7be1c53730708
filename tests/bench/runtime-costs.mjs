#!/usr/bin/env node
// What `wrangler dev` itself charges a Worker per request, for reading the benchmark: a tiny
// JavaScript Worker (tests/bench/runtime-costs/) doing one thing per path (a console.log of a
// short or long line, from a deep stack or a microtask; a 2.3 KB or 1.0 KB HTML page, or the
// 2.3 KB one as text/plain), against doing nothing. workerd CPU per request from /proc, the
// Worker's own process and wrangler's proxy apart; 2 clients, rounds interleaved.
//
//   node tests/bench/runtime-costs.mjs [--requests N] [--rounds N]   (defaults: 200, 6)

import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import { startWranglerDev } from '../e2e/harness.mjs';
import { cpuBetween, sampleCpu } from './procstat.mjs';

const PORT = 8877;
const DIR = new URL('./runtime-costs/', import.meta.url).pathname;
const PATHS = ['/nothing', '/log-short', '/log-long', '/log-deep', '/log-microtask', '/page-small', '/page-ours', '/page-ours-as-text'];

function parseArgs(argv) {
  const o = { requests: 200, rounds: 6 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${argv[i]} needs a whole number`);
    if (argv[i] === '--requests') o.requests = value;
    else if (argv[i] === '--rounds') o.rounds = value;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return o;
}

async function hit(p, n) {
  for (let i = 0; i < n; i += 1) {
    // as a browser asks: compressed if it can be
    const r = await fetch(`http://localhost:${PORT}${p}`, { headers: { 'accept-encoding': 'gzip, deflate' } });
    await r.arrayBuffer();
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const persistDir = await fs.mkdtemp(path.join(os.tmpdir(), 'runtime-costs-'));
  const dev = await startWranglerDev({ port: PORT, persistDir, configArgs: ['--config', path.join(DIR, 'wrangler.toml')], cwd: DIR, keepOutput: false });
  try {
    const samples = Object.fromEntries(PATHS.map((p) => [p, []]));
    for (const p of PATHS) await hit(p, 50); // untimed
    for (let round = 0; round < o.rounds; round += 1) {
      for (const p of PATHS) {
        const before = sampleCpu(dev.pid, PORT);
        await Promise.all([hit(p, o.requests / 2), hit(p, o.requests - o.requests / 2)]);
        const cpu = cpuBetween(before, sampleCpu(dev.pid, PORT));
        samples[p].push({ worker: (cpu.byRole.worker ?? 0) / o.requests, proxy: (cpu.byRole.proxy ?? 0) / o.requests });
      }
    }
    const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const base = { worker: median(samples['/nothing'].map((s) => s.worker)), proxy: median(samples['/nothing'].map((s) => s.proxy)) };
    const lines = [`workerd CPU per request, ms, median of ${o.rounds} rounds of ${o.requests}; and above /nothing`,
      `${'path'.padEnd(20)} ${'worker'.padStart(7)} ${'proxy'.padStart(7)}   ${'+worker'.padStart(8)} ${'+proxy'.padStart(7)} ${'+both'.padStart(7)}`];
    for (const p of PATHS) {
      const w = median(samples[p].map((s) => s.worker));
      const x = median(samples[p].map((s) => s.proxy));
      const f = (n, sign = false) => `${sign && n >= 0 ? '+' : ''}${n.toFixed(3)}`.padStart(7);
      lines.push(`${p.padEnd(20)} ${f(w)} ${f(x)}   ${f(w - base.worker, true).padStart(8)} ${f(x - base.proxy, true)} ${f(w + x - base.worker - base.proxy, true)}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await dev.stop();
    await fs.rm(persistDir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`runtime-costs: ${err.stack ?? err}\n`);
  process.exit(2);
});
