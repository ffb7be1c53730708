#!/usr/bin/env node
// The Worker's upload size, as `wrangler deploy --dry-run` reports it ("Total Upload: X KiB /
// gzip: Y KiB"), against a budget for the gzip size:
//
//   node scripts/upload-size.mjs --max-gzip-kb 150
//   node scripts/upload-size.mjs --max-gzip-kb 170 --config tests/e2e/wrangler.gateway.toml
//
// KB here are 1000 bytes; wrangler prints KiB (1024 bytes). Exits 1 when the gzip size is over
// the budget, 2 when wrangler fails or prints no size. Works offline (no login needed): the
// dry run only builds (scripts/build.sh, a no-op when up to date) and bundles.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WRANGLER = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

const UNIT = { b: 1, kib: 1024, mib: 1024 * 1024, kb: 1000, mb: 1000 * 1000 };

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

/** Parses "Total Upload: 710.13 KiB / gzip: 295.57 KiB" into bytes; null if there is no such line. */
export function parseUploadSize(text) {
  const m = /Total Upload:\s*([0-9.]+)\s*([KM]i?B|B)\s*\/\s*gzip:\s*([0-9.]+)\s*([KM]i?B|B)/i
    .exec(String(text).replace(ANSI, ''));
  if (!m) return null;
  const bytes = (n, unit) => Math.round(Number.parseFloat(n) * UNIT[unit.toLowerCase()]);
  return { rawBytes: bytes(m[1], m[2]), gzipBytes: bytes(m[3], m[4]), line: m[0] };
}

/**
 * Runs `wrangler deploy --dry-run` into a temporary directory and returns the parsed sizes.
 * `wrangler` (path of a wrangler.js) and `cwd`: another Worker's own installation and folder
 * (default: this repository's).
 */
export async function measureUploadSize({ timeoutMs = 180_000, config, wrangler = WRANGLER, cwd = ROOT } = {}) {
  const outdir = await fs.mkdtemp(path.join(os.tmpdir(), 'upload-size-'));
  try {
    const { stdout, stderr } = await new Promise((resolve, reject) => {
      const configArgs = config ? ['--config', config] : [];
      execFile(process.execPath, [wrangler, 'deploy', '--dry-run', '--outdir', outdir, ...configArgs], {
        cwd,
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
      }, (err, out, errOut) => {
        if (err) {
          err.message += `\nstdout:\n${out}\nstderr:\n${errOut}`;
          reject(err);
        } else {
          resolve({ stdout: out, stderr: errOut });
        }
      });
    });
    const sizes = parseUploadSize(`${stdout}\n${stderr}`);
    if (!sizes) throw new Error(`wrangler deploy --dry-run printed no "Total Upload" line:\n${stdout}\n${stderr}`);
    return sizes;
  } finally {
    await fs.rm(outdir, { recursive: true, force: true }).catch(() => {});
  }
}

export const kb = (bytes) => bytes / 1000;

async function main(argv) {
  let maxGzipKb = null;
  let config;
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--max-gzip-kb' || a.startsWith('--max-gzip-kb=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[(i += 1)];
      maxGzipKb = Number(v);
      if (!(maxGzipKb > 0)) throw new Error(`--max-gzip-kb needs a positive number, got ${v}`);
    } else if (a === '--config') {
      config = argv[(i += 1)];
    } else if (a === '-h' || a === '--help') {
      console.log('usage: node scripts/upload-size.mjs [--max-gzip-kb KB] [--config wrangler.toml]   (KB = 1000 bytes)');
      return 0;
    } else {
      throw new Error(`unknown argument ${a}`);
    }
  }
  const s = await measureUploadSize({ config });
  console.log(`upload size: ${kb(s.rawBytes).toFixed(1)} KB raw, ${kb(s.gzipBytes).toFixed(1)} KB gzip (wrangler: ${s.line})`);
  if (maxGzipKb !== null) {
    const ok = kb(s.gzipBytes) <= maxGzipKb;
    console.log(`gzip upload budget ${maxGzipKb} KB: ${ok ? 'PASS' : 'FAIL'}`);
    return ok ? 0 : 1;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err) => {
    console.error(`upload-size: ${err.message}`);
    process.exitCode = 2;
  });
}
