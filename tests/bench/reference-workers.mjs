// The reference Workers the benchmark runs next to this one (see bench.mjs):
//
//   bench-peer      the same login flow as a plain JavaScript Worker on `jose` (the one to beat);
//   bench-floor-io  the same platform work per route (KV operations, the token and userinfo
//                   calls, one log line) and nothing else: the I/O floor.
//
// They live outside this repository, read-only, each with a package.json and a lock file that
// pins `jose` and wrangler. Each is copied into .bench-workers/<name>-<hash>/ (git-ignored;
// the hash covers every file of the source folder) and installed there with `npm ci`; a later
// run with the same files reuses that copy. The source folders: BENCH_PEER_DIR and
// BENCH_FLOOR_IO_DIR, by default ../shared/bench-peer and ../shared/bench-floor-io next to the
// repository.

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

import { ROOT } from '../e2e/harness.mjs';

export const CACHE_DIR = path.join(ROOT, '.bench-workers');

export const REFERENCE_WORKERS = Object.freeze({
  peer: { name: 'bench-peer', env: 'BENCH_PEER_DIR' },
  floorIo: { name: 'bench-floor-io', env: 'BENCH_FLOOR_IO_DIR' },
});

/** The source folder of a reference Worker (its env setting, or the default next to the repository). */
export function sourceDirOf(key) {
  const w = REFERENCE_WORKERS[key];
  return path.resolve(process.env[w.env] || path.join(ROOT, '..', 'shared', w.name));
}

async function listFiles(dir, rel = '') {
  const out = [];
  for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === '.wrangler') continue;
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...await listFiles(dir, r));
    else if (e.isFile()) out.push(r);
  }
  return out.sort();
}

async function makeWritable(dir) {
  await fs.chmod(dir, 0o755);
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await makeWritable(p);
    else if (e.isFile()) await fs.chmod(p, 0o644);
  }
}

function run(cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} in ${cwd} exited with ${code}:\n${out.slice(-4000)}`));
    });
  });
}

async function wranglerVersionIn(dir) {
  const pkg = JSON.parse(await fs.readFile(path.join(dir, 'node_modules', 'wrangler', 'package.json'), 'utf8'));
  return pkg.version;
}

/**
 * The settings a reference Worker runs with (its `vars`): the local provider of `stack` (as
 * startStack returns it) and its client, and the redirect URI it is registered with there.
 */
export function referenceWorkerVars(stack, redirectUri) {
  const P = stack.provider.url;
  return {
    WEBEX_CLIENT_ID: stack.clientId,
    WEBEX_CLIENT_SECRET: stack.clientSecret,
    WEBEX_AUTHORIZE_URL: `${P}/v1/authorize`,
    WEBEX_TOKEN_URL: `${P}/v1/access_token`,
    WEBEX_USERINFO_URL: `${P}/v1/userinfo`,
    WEBEX_JWKS_URL: `${P}/v1/verification`,
    WEBEX_ISSUERS: stack.provider.issuer,
    REDIRECT_URI: redirectUri,
  };
}

/**
 * A runnable copy of reference Worker `key` ('peer' or 'floorIo'): copied and `npm ci`-ed
 * unless an identical copy is cached. Resolves to { name, source, dir, config, wrangler (path of
 * its wrangler.js), wranglerVersion, cached, prepareMs }.
 */
export async function prepareReferenceWorker(key, { log = () => {} } = {}) {
  const w = REFERENCE_WORKERS[key];
  const t0 = performance.now();
  const source = sourceDirOf(key);
  let files;
  try {
    files = await listFiles(source);
  } catch (err) {
    throw new Error(`${w.name}: cannot read its folder ${source} (${err.code || err.message}); set ${w.env}`);
  }
  for (const required of ['package.json', 'package-lock.json', 'wrangler.toml']) {
    if (!files.includes(required)) throw new Error(`${w.name}: ${source} has no ${required}`);
  }
  const hash = crypto.createHash('sha256');
  for (const f of files) {
    hash.update(`${f}\0`);
    hash.update(await fs.readFile(path.join(source, f)));
    hash.update('\0');
  }
  const dir = path.join(CACHE_DIR, `${w.name}-${hash.digest('hex').slice(0, 16)}`);
  const marker = path.join(dir, '.installed');
  let cached = true;
  if (!await fs.access(marker).then(() => true, () => false)) {
    cached = false;
    log(`${w.name}: copying and installing (npm ci) into ${path.relative(ROOT, dir)}`);
    const tmp = `${dir}.tmp-${process.pid}`;
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(CACHE_DIR, { recursive: true });
    await fs.cp(source, tmp, { recursive: true, filter: (src) => !/[\\/](node_modules|\.wrangler)$/.test(src) });
    await makeWritable(tmp); // the source may be read-only, and cp keeps its modes
    await run('npm', ['ci', '--no-audit', '--no-fund'], tmp);
    await fs.writeFile(path.join(tmp, '.installed'), `${new Date().toISOString()}\n`);
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(tmp, dir);
    // older copies of the same Worker are of no further use
    for (const e of await fs.readdir(CACHE_DIR)) {
      const p = path.join(CACHE_DIR, e);
      if (p !== dir && e.startsWith(`${w.name}-`) && /^[0-9a-f]{16}$/.test(e.slice(w.name.length + 1))) {
        await fs.rm(p, { recursive: true, force: true });
      }
    }
  }
  return {
    key,
    name: w.name,
    source,
    dir,
    config: path.join(dir, 'wrangler.toml'),
    wrangler: path.join(dir, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
    wranglerVersion: await wranglerVersionIn(dir),
    cached,
    prepareMs: performance.now() - t0,
  };
}

/** This repository's wrangler version (the one the Worker runs under). */
export function ownWranglerVersion() {
  return wranglerVersionIn(ROOT);
}
