#!/usr/bin/env node
// Where the Worker's CPU goes: runs logins or page views against the Worker under
// `wrangler dev` with V8's sampling profiler attached through the inspector, and prints the
// functions ranked by self samples (workerd does not report idle time, so samples rank
// hotspots; their total is not wall time).
//
//   node tests/bench/profile.mjs [--phase login|view] [--count N] [--interval MICROSECONDS]
//                                [--build DIR] [--top N]
//
// PROFILE_SOURCES=1 also prints the source around the hottest anonymous functions of the
// Worker's script (wasm-bindgen's glue is mostly anonymous).
//
// `--build DIR` profiles another build of the Worker (a folder with index.js, as worker-build
// writes it). The release build has its function names stripped (scripts/strip-wasm-names.mjs),
// so for names build once without stripping, e.g. `worker-build --release --out-dir DIR` with
// the environment scripts/build.sh sets.

import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import WebSocket from 'ws';

import { Browser, SESSION_COOKIE, startStack } from '../e2e/harness.mjs';
import { cpuBetween, sampleCpu } from './procstat.mjs';

const WORKER_PORT = 8880; // inspector on 9880 (startWranglerDev: port + 1000)
const PROVIDER_PORT = 9480;

function parseArgs(argv) {
  const o = { phase: 'view', count: 300, interval: 100, build: null, top: 40, rateLimit: true };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--no-rate-limit') { o.rateLimit = false; continue; }
    const v = argv[i + 1];
    i += 1;
    switch (a) {
      case '--phase': o.phase = v; break;
      case '--count': o.count = Number(v); break;
      case '--interval': o.interval = Number(v); break;
      case '--build': o.build = path.resolve(v); break;
      case '--top': o.top = Number(v); break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!['login', 'view', 'start'].includes(o.phase)) throw new Error('--phase is login, start (GET /login only) or view');
  return o;
}

/** A wrangler config like tests/e2e/wrangler.toml whose `main` is another build's index.js. */
async function configFor(buildDir, { rateLimit }) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'profile-config-'));
  const base = await fs.readFile(new URL('../e2e/wrangler.toml', import.meta.url), 'utf8');
  const text = base
    .replace(/^main = .*$/m, `main = ${JSON.stringify(path.join(buildDir, 'index.js'))}`)
    .replace(/^\[build\][\s\S]*?(?=^\[\[)/m, '')
    .replace(rateLimit ? /^$/ : /^\[\[ratelimits\]\][\s\S]*$/m, '');
  const file = path.join(dir, 'wrangler.toml');
  await fs.writeFile(file, text);
  return { file, dir };
}

/** The inspector's first target, spoken to with the `ws` package (Node's WebSocket is refused). */
async function connectInspector(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let next = 1;
  const pending = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(data);
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = next;
    next += 1;
    pending.set(id, (msg) => (msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result)));
    ws.send(JSON.stringify({ id, method, params }));
  });
  return { send, close: () => ws.close() };
}

/** Self samples per function, and per function the samples of its subtree. */
function rank(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (const id of profile.samples) {
    const n = byId.get(id);
    const f = n.callFrame;
    const where = !f.functionName && f.url.endsWith('index.js') ? `:${f.lineNumber}:${f.columnNumber}` : '';
    const key = `${f.functionName || '(anonymous)'}  ${f.url ? path.basename(f.url) : ''}${where}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  return [...self.entries()].sort((a, b) => b[1] - a[1]);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const config = o.build || !o.rateLimit ? await configFor(o.build ?? path.resolve('build'), o) : null;
  const stack = await startStack({
    workerPort: WORKER_PORT,
    providerPort: PROVIDER_PORT,
    keepOutput: false,
    ...(config ? { configArgs: ['--config', config.file] } : {}),
  });
  try {
    const signedIn = new Browser();
    await stack.login(signedIn);
    if (!signedIn.jar.header(new URL(`${stack.workerOrigin}/`))?.includes(SESSION_COOKIE)) {
      throw new Error('the warm-up login opened no session');
    }
    const once = async () => {
      if (o.phase === 'view') {
        const r = await signedIn.request(`${stack.workerOrigin}/`);
        if (r.status !== 200) throw new Error(`GET / answered ${r.status}`);
      } else if (o.phase === 'start') {
        const r = await new Browser().request(`${stack.workerOrigin}/login`);
        if (r.status !== 302) throw new Error(`GET /login answered ${r.status}`);
      } else {
        await stack.login(new Browser());
      }
    };
    for (let i = 0; i < 20; i += 1) await once(); // warm the isolate and the JIT
    // First without the profiler: workerd's CPU per operation, from /proc.
    const cpu0 = sampleCpu(stack.wranglerPid, WORKER_PORT);
    for (let i = 0; i < o.count; i += 1) await once();
    const cpu = cpuBetween(cpu0, sampleCpu(stack.wranglerPid, WORKER_PORT));
    const per = (ms) => (ms / o.count).toFixed(2);
    process.stdout.write(`workerd CPU per operation: ${per(cpu.workerdMs)} ms (worker ${per(cpu.byRole.worker ?? 0)}, proxy ${per(cpu.byRole.proxy ?? 0)})\n`);
    const inspector = await connectInspector(WORKER_PORT + 1000);
    await inspector.send('Profiler.enable');
    await inspector.send('Profiler.setSamplingInterval', { interval: o.interval });
    await inspector.send('Profiler.start');
    for (let i = 0; i < o.count; i += 1) await once();
    const { profile } = await inspector.send('Profiler.stop');
    const ranked = rank(profile);
    if (process.env.PROFILE_SOURCES) {
      // Where the hottest anonymous functions of the Worker's own script are.
      await inspector.send('Debugger.enable');
      const byId = new Map(profile.nodes.map((n) => [n.id, n]));
      const hot = new Map();
      for (const id of profile.samples) {
        const f = byId.get(id).callFrame;
        if (!f.functionName && f.url.endsWith('index.js')) {
          const k = `${f.scriptId}:${f.lineNumber}:${f.columnNumber}`;
          hot.set(k, (hot.get(k) ?? 0) + 1);
        }
      }
      const sources = new Map();
      for (const [k, n] of [...hot.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6)) {
        const [scriptId, line, column] = k.split(':');
        if (!sources.has(scriptId)) sources.set(scriptId, (await inspector.send('Debugger.getScriptSource', { scriptId })).scriptSource.split('\n'));
        const lines = sources.get(scriptId);
        process.stdout.write(`${String(n).padStart(7)}  line ${line}: ${lines.slice(Math.max(0, Number(line) - 3), Number(line) + 8).join(' / ').slice(0, 700)}\n`);
      }
    }
    inspector.close();
    const total = ranked.reduce((s, [, n]) => s + n, 0);
    process.stdout.write(`${o.count} ${o.phase}, ${total} samples at ${o.interval} us\n`);
    const groups = new Map();
    for (const [name, n] of ranked) {
      const g = name.includes('.wasm') ? 'wasm' : /index\.js(:\d+:\d+)?$/.test(name) ? 'JS of the Worker (glue)' : /^\((idle|program|garbage collector)\)/.test(name) ? name.split('  ')[0] : 'runtime (no script)';
      groups.set(g, (groups.get(g) ?? 0) + n);
    }
    for (const [g, n] of [...groups.entries()].sort((a, b) => b[1] - a[1])) {
      process.stdout.write(`${String(n).padStart(7)} ${((100 * n) / total).toFixed(1).padStart(5)}%  [${g}]\n`);
    }
    for (const [name, n] of ranked.slice(0, o.top)) {
      process.stdout.write(`${String(n).padStart(7)} ${((100 * n) / total).toFixed(1).padStart(5)}%  ${name}\n`);
    }
  } finally {
    await stack.stop({ checkLogs: false });
    if (config) await fs.rm(config.dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`profile: ${err.stack || err}\n`);
  process.exit(2);
});
