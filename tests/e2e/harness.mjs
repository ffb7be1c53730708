// End-to-end harness: the real Worker under `wrangler dev` + the local Webex-shaped provider.
//
//   const stack = await startStack({ workerPort: 8801, providerPort: 9401 });
//   const browser = stack.newBrowser();
//   const { home } = await stack.login(browser);
//   ...
//   await stack.stop();   // in the file's `after` hook: ends with the log check (see startStack)
//
// Every response a test gets from the Worker must be in stack.workerResponses (a browser from
// stack.newBrowser() records its own), so that the check can match it with its log line.
//
// The Worker must already be built (`[build]` in wrangler.toml runs the build script, which is
// a no-op when up to date). Everything listens on 127.0.0.1; the Worker is addressed as
// http://localhost:PORT because that is the registered redirect URI's host.

import { strict as assert } from 'node:assert';
import { spawn, execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DEMO_USER, startProvider } from '../provider/provider.mjs';
import { ROGUE_USER, startRogueProvider } from '../provider/rogue.mjs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WRANGLER = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
// The Worker's wrangler config: tests/e2e/wrangler.toml, the root one with the login rate
// limit raised (every test client comes from 127.0.0.1), or E2E_WRANGLER_CONFIG (e.g. a
// stand-in Worker). ROOT_CONFIG_ARGS: the root wrangler.toml itself, real limit included.
export const E2E_CONFIG_ARGS = ['--config', process.env.E2E_WRANGLER_CONFIG || path.join('tests', 'e2e', 'wrangler.toml')];
export const ROOT_CONFIG_ARGS = ['--config', 'wrangler.toml'];
/** The gateway build (gateway mode compiled in), for the gateway tests. */
export const GATEWAY_CONFIG_ARGS = ['--config', path.join('tests', 'e2e', 'wrangler.gateway.toml')];

export const SESSION_COOKIE = '__Host-webex-session';
export const LOGIN_COOKIE = '__Host-webex-login';

export const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// wrangler colours its warning/error lines even with NO_COLOR set
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -\/]*[@-~]/g;
export const stripAnsi = (s) => String(s).replace(ANSI, '');

// ---------------------------------------------------------------------------------------------
// HTML helpers (tiny, no dependencies)

export function decodeEntities(s) {
  return String(s)
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(Number.parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(Number.parseInt(d, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&');
}

/** Visible-ish text of an HTML fragment: tags, scripts and styles removed, entities decoded. */
export function textOf(html) {
  return decodeEntities(String(html)
    .replace(/<script\b[\s\S]*?<\/script>/gi, ' ')
    .replace(/<style\b[\s\S]*?<\/style>/gi, ' ')
    .replace(/<[^>]*>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();
}

/** Outer HTML of the element with the given id (matching nested tags of the same name). */
export function elementById(html, id) {
  const re = new RegExp(`<([a-zA-Z][a-zA-Z0-9-]*)\\b[^>]*\\bid\\s*=\\s*["']?${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}["'\\s>]`, 'i');
  const m = re.exec(html);
  if (!m) return null;
  const tag = m[1].toLowerCase();
  const start = m.index;
  const tagRe = new RegExp(`<(/?)${tag}\\b[^>]*>`, 'gi');
  tagRe.lastIndex = start;
  let depth = 0;
  for (let t = tagRe.exec(html); t; t = tagRe.exec(html)) {
    if (t[1] === '/') {
      depth -= 1;
      if (depth === 0) return html.slice(start, t.index + t[0].length);
    } else if (!t[0].endsWith('/>')) {
      depth += 1;
    }
  }
  return html.slice(start);
}

/** Table rows in an HTML fragment, as arrays of cell texts (th and td). */
export function tableRows(html) {
  const rows = [];
  for (const tr of String(html).matchAll(/<tr\b[^>]*>([\s\S]*?)<\/tr>/gi)) {
    const cells = [...tr[1].matchAll(/<t([hd])\b[^>]*>([\s\S]*?)<\/t\1>/gi)].map((c) => textOf(c[2]));
    if (cells.length) rows.push(cells);
  }
  return rows;
}

/** First-cell -> second-cell map of the tables inside the element with the given id. */
export function claimsTable(html, id) {
  const el = elementById(html, id);
  if (el === null) return null;
  const map = new Map();
  for (const cells of tableRows(el)) {
    if (cells.length >= 2 && !map.has(cells[0])) map.set(cells[0], cells[1]);
  }
  return map;
}

function formsOf(html) {
  const forms = [];
  for (const f of String(html).matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attr = (name, s) => {
      const m = new RegExp(`\\b${name}\\s*=\\s*("([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(s);
      return m ? decodeEntities(m[2] ?? m[3] ?? m[4]) : undefined;
    };
    const inputs = [...f[2].matchAll(/<input\b([^>]*)>/gi)].map((i) => ({
      name: attr('name', i[1]),
      type: (attr('type', i[1]) || 'text').toLowerCase(),
      value: attr('value', i[1]) ?? '',
    }));
    forms.push({ action: attr('action', f[1]), method: (attr('method', f[1]) || 'get').toLowerCase(), inputs });
  }
  return forms;
}

// ---------------------------------------------------------------------------------------------
// Cookies

function parseSetCookie(header) {
  const [pair, ...attrs] = header.split(';');
  const eq = pair.indexOf('=');
  if (eq < 1) return null;
  const cookie = {
    name: pair.slice(0, eq).trim(),
    value: pair.slice(eq + 1).trim(),
    attrs: {},
  };
  for (const a of attrs) {
    const i = a.indexOf('=');
    const k = (i === -1 ? a : a.slice(0, i)).trim().toLowerCase();
    const v = i === -1 ? true : a.slice(i + 1).trim();
    if (k) cookie.attrs[k] = v;
  }
  return cookie;
}

export { parseSetCookie };

function defaultPath(url) {
  const p = url.pathname;
  if (!p.startsWith('/') || p.lastIndexOf('/') === 0) return '/';
  return p.slice(0, p.lastIndexOf('/'));
}

function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/**
 * A minimal cookie jar, like a browser's: cookies are stored per host name (ports do not
 * isolate cookies), honour Path, Max-Age and Expires. `Secure` is recorded but ignored when
 * sending: everything here is plain http on localhost, which browsers treat as secure.
 */
export class CookieJar {
  #cookies = [];

  store(url, setCookieHeaders) {
    const u = new URL(url);
    for (const header of setCookieHeaders) {
      const c = parseSetCookie(header);
      if (!c) continue;
      const cookiePath = typeof c.attrs.path === 'string' && c.attrs.path.startsWith('/') ? c.attrs.path : defaultPath(u);
      let expires = null;
      if (c.attrs['max-age'] !== undefined) {
        const n = Number.parseInt(c.attrs['max-age'], 10);
        expires = Number.isFinite(n) ? Date.now() + n * 1000 : null;
      } else if (typeof c.attrs.expires === 'string') {
        const t = Date.parse(c.attrs.expires);
        expires = Number.isFinite(t) ? t : null;
      }
      this.#cookies = this.#cookies.filter((x) => !(x.host === u.hostname && x.name === c.name && x.path === cookiePath));
      if (expires !== null && expires <= Date.now()) continue; // deletion
      this.#cookies.push({
        host: u.hostname,
        name: c.name,
        value: c.value,
        path: cookiePath,
        expires,
        attrs: c.attrs,
      });
    }
  }

  #live() {
    const now = Date.now();
    this.#cookies = this.#cookies.filter((c) => c.expires === null || c.expires > now);
    return this.#cookies;
  }

  /** Value of the Cookie header a browser would send to `url` ('' if none). */
  header(url) {
    const u = new URL(url);
    return this.#live()
      .filter((c) => c.host === u.hostname && pathMatches(u.pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  get(host, name) {
    return this.#live().find((c) => c.host === host && c.name === name) || null;
  }

  delete(host, name) {
    const before = this.#cookies.length;
    this.#cookies = this.#cookies.filter((c) => !(c.host === host && c.name === name));
    return before !== this.#cookies.length;
  }

  list(host) {
    return this.#live().filter((c) => host === undefined || c.host === host).map((c) => ({ ...c }));
  }

  clone() {
    const copy = new CookieJar();
    copy.#cookies = this.#cookies.map((c) => ({ ...c, attrs: { ...c.attrs } }));
    return copy;
  }
}

// ---------------------------------------------------------------------------------------------
// A simulated browser: cookie jar + fetch with manual redirects

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export class Browser {
  /** `onResponse(result)`, if given, sees every response this browser (and its clones) gets. */
  constructor(jar = new CookieJar(), { onResponse } = {}) {
    this.jar = jar;
    this.onResponse = onResponse;
  }

  clone() {
    return new Browser(this.jar.clone(), { onResponse: this.onResponse });
  }

  /**
   * One request, no redirect following. Resolves to a plain object:
   * { url, status, headers, setCookies (raw strings), cookies (parsed), location (absolute), text }
   */
  async request(url, { method = 'GET', headers = {}, body } = {}) {
    const u = new URL(url);
    const h = new Headers(headers);
    const cookie = this.jar.header(u);
    if (cookie) h.set('cookie', cookie);
    if (!h.has('user-agent')) h.set('user-agent', 'e2e-harness');
    if (!h.has('accept')) h.set('accept', 'text/html,application/xhtml+xml,*/*;q=0.8');
    // Node's fetch always sends `Sec-Fetch-Mode: cors`: a page load (`navigate`), as a browser
    // sends it, goes out through node:http instead.
    const res = h.has('sec-fetch-mode')
      ? await httpFetch(u, { method, headers: h, body })
      : await fetch(u, { method, headers: h, body, redirect: 'manual' });
    const setCookies = res.headers.getSetCookie();
    this.jar.store(u, setCookies);
    const text = await res.text();
    const loc = res.headers.get('location');
    const result = {
      url: u.href,
      method,
      status: res.status,
      headers: res.headers,
      setCookies,
      cookies: setCookies.map(parseSetCookie).filter(Boolean),
      location: loc === null ? null : new URL(loc, u).href,
      rawLocation: loc,
      text,
    };
    this.onResponse?.(result);
    return result;
  }
}

/** A request with exactly these headers (node:http), answered as fetch would (no redirect
 *  followed): `status`, `headers` (fetch Headers), `text()`. */
function httpFetch(u, { method, headers, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request(u, { method, headers: Object.fromEntries(headers) }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const h = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : [value]) h.append(name, v);
        }
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, headers: h, text: async () => text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Whether a response (with fetch Headers) came from the Worker, which sets a CSP on every
 *  answer, rather than from the runtime (a crash, or a refusal before the Worker ran). */
export function fromWorker(response) {
  return Boolean(response.headers.get('content-security-policy'));
}

export function isRedirect(status) {
  return REDIRECT_STATUSES.has(status);
}

/** The Set-Cookie (parsed) for `name` in a response, or null. */
export function setCookieFor(response, name) {
  return response.cookies.find((c) => c.name === name) || null;
}

// ---------------------------------------------------------------------------------------------
// The stack

/** Runs a wrangler CLI command (e.g. `kv key get --local`) and resolves with its output. */
export function runWrangler(args, { timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [WRANGLER, ...args], {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\nstdout:\n${stdout}\nstderr:\n${stderr}`;
        reject(err);
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

/**
 * Spawn `wrangler dev` for a Worker on 127.0.0.1:`port` (inspector on port + 1000), in its own
 * process group, stdout and stderr piped; nothing more (see startWranglerDev). Options as there.
 */
export function spawnWranglerDev({ port, vars = {}, persistDir, configArgs = E2E_CONFIG_ARGS, wrangler = WRANGLER, cwd = ROOT }) {
  const args = [
    wrangler, 'dev',
    '--port', String(port),
    '--ip', '127.0.0.1',
    '--inspector-port', String(port + 1000),
    ...(persistDir ? ['--persist-to', persistDir] : []),
    // Not 'info': wrangler ranks 'log' above 'info' (error < warn < info < log < debug), so at
    // 'info' every console.log() line of the Worker is dropped and only its console.info/
    // warn/error lines show. 'log' keeps all of them, which the log checks need.
    '--log-level', process.env.E2E_WRANGLER_LOG_LEVEL || 'log',
    '--show-interactive-dev-session=false',
    ...configArgs,
  ];
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
  return spawn(process.execPath, args, {
    cwd,
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: 'false',
      CI: 'true',
      NO_COLOR: '1',
      FORCE_COLOR: '0',
    },
    detached: true, // own process group, so stop() can end wrangler and workerd together
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * Start `wrangler dev` for a Worker on 127.0.0.1:`port` and resolve once it answers GET /.
 *
 * `vars`: `--var NAME:VALUE` settings; `configArgs`: e.g. ['--config', 'path/wrangler.toml']
 * (default: ./wrangler.toml, or E2E_WRANGLER_CONFIG). Every line wrangler (and so the Worker)
 * prints goes to `onLine(line)`, colour codes removed; the whole output is also kept for
 * `output()` unless `keepOutput` is false (then only its tail is, for error messages).
 * `onReady(response)` sees the readiness probe's response. Runs in its own process group, so
 * `stop()` ends wrangler and its workerd processes together. `wrangler` (the path of a
 * wrangler.js) and `cwd` run another installation of wrangler from another folder (default:
 * this repository's, from its root), e.g. a reference Worker's own.
 */
export async function startWranglerDev({
  port,
  vars = {},
  persistDir,
  configArgs = E2E_CONFIG_ARGS,
  readyTimeoutMs = 120_000,
  keepOutput = true,
  onLine,
  onReady,
  wrangler = WRANGLER,
  cwd = ROOT,
}) {
  const child = spawnWranglerDev({ port, vars, persistDir, configArgs, wrangler, cwd });
  let output = '';
  let tail = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    let partial = '';
    stream.on('data', (d) => {
      if (keepOutput) output += d;
      else tail = (tail + d).slice(-16_000);
      if (!onLine) return;
      const lines = (partial + d).split('\n');
      partial = lines.pop();
      for (const line of lines) onLine(stripAnsi(line));
    });
    stream.on('end', () => {
      if (onLine && partial) onLine(stripAnsi(partial));
      partial = '';
    });
  }
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (exited === null) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
      const t = await Promise.race([exitPromise, sleep(10_000).then(() => 'timeout')]);
      if (t === 'timeout') {
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
        await Promise.race([exitPromise, sleep(5_000)]);
      }
    }
    // workerd may outlive wrangler briefly; make sure nothing is left in the group, and wait
    // until it is gone (so that it no longer writes to the persist directory)
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* none left */ }
    for (const end = Date.now() + 5_000; Date.now() < end; await sleep(50)) {
      try { process.kill(-child.pid, 0); } catch { break; }
    }
  };

  // Wait until the Worker answers.
  const deadline = Date.now() + readyTimeoutMs;
  let ready = false;
  while (Date.now() < deadline) {
    if (exited !== null) break;
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual', signal: AbortSignal.timeout(5_000) });
      await res.arrayBuffer();
      onReady?.(res);
      ready = true;
      break;
    } catch {
      await sleep(500);
    }
  }
  if (!ready) {
    const why = exited !== null ? `wrangler exited (${JSON.stringify(exited)})` : `not ready after ${readyTimeoutMs} ms`;
    await stop();
    throw new Error(`worker on port ${port}: ${why}\n--- wrangler output ---\n${stripAnsi((keepOutput ? output : tail).slice(-8000))}`);
  }

  return {
    child,
    pid: child.pid,
    /** Everything printed so far ('' when keepOutput is false). */
    output: () => output,
    exited: () => exited,
    stop,
  };
}

/**
 * Start provider + `wrangler dev`. Resolves once the Worker answers HTTP.
 *
 * `provider`: 'oidc' (default: the oidc-provider based Webex look-alike, with a login form) or
 * 'rogue' (tests/provider/rogue.mjs: no login form, switchable misbehaviour).
 * `vars`: extra `--var NAME:VALUE` settings for the Worker (they override the defaults).
 * `configArgs`: the wrangler config (default E2E_CONFIG_ARGS; ROOT_CONFIG_ARGS for the real
 * login rate limit).
 * `onOutputLine`, `keepOutput`: see startWranglerDev (with keepOutput false, the log helpers
 * below see nothing).
 *
 * `stop()` ends with the stack's log check, assertRequestLogs(), run once per stack: one JSON
 * request line per Worker response and no secret in the output (it throws after stopping
 * everything, so a file's `after` hook that stops its stacks fails the run). A stack without
 * its output (keepOutput false) cannot be checked: `checkLogsOnStop` is then false.
 * `logCheckTimeoutMs`: how long that check waits for late log lines (default 10 s).
 * `authPrefix`: gateway mode's AUTH_PREFIX ('' in standalone mode): the callback, and so the
 * redirect URI registered at the provider, lives below it.
 * `forwardedMarker`: gateway mode: a header the origin puts on every answer, so that a
 * forwarded answer (which has none of the Worker's own headers) counts as the Worker's.
 * `extraRedirectUris`: more redirect URIs the provider's client accepts (the benchmark signs
 * other Workers in through the same provider and client).
 */
export async function startStack({
  workerPort,
  providerPort,
  readyTimeoutMs = 120_000,
  provider: providerKind = 'oidc',
  vars: extraVars = {},
  configArgs = E2E_CONFIG_ARGS,
  keepOutput = true,
  checkLogsOnStop = keepOutput,
  logCheckTimeoutMs,
  onOutputLine,
  authPrefix = '',
  forwardedMarker = null,
  extraRedirectUris = [],
}) {
  if (checkLogsOnStop && !keepOutput) throw new Error('checkLogsOnStop needs keepOutput: the check reads the whole output');
  const workerOrigin = `http://localhost:${workerPort}`;
  const redirectUri = `${workerOrigin}${authPrefix}/oauth`;
  /** Whether an answer on the Worker's port is the Worker's (its page headers, or forwarded). */
  const isWorkers = (headers) => {
    const get = (name) => (typeof headers.get === 'function' ? headers.get(name) : headers[name]);
    return Boolean(get('content-security-policy') || (forwardedMarker && get(forwardedMarker)));
  };
  const clientId = 'e2e-client';
  const clientSecret = `e2e-secret-${crypto.randomBytes(18).toString('base64url')}`;

  let provider;
  if (providerKind === 'rogue') {
    provider = await startRogueProvider({ port: providerPort, clientId, clientSecret, redirectUri });
  } else if (providerKind === 'oidc') {
    provider = await startProvider({
      port: providerPort,
      clientId,
      clientSecret,
      redirectUris: [redirectUri, ...extraRedirectUris],
    });
  } else {
    throw new Error(`unknown provider kind ${providerKind}`);
  }

  const persistDir = await fs.mkdtemp(path.join(os.tmpdir(), 'webex-e2e-'));
  const P = provider.url;
  const vars = {
    WEBEX_CLIENT_ID: clientId,
    WEBEX_CLIENT_SECRET: clientSecret,
    WEBEX_AUTHORIZE_URL: `${P}/v1/authorize`,
    WEBEX_TOKEN_URL: `${P}/v1/access_token`,
    WEBEX_USERINFO_URL: `${P}/v1/userinfo`,
    WEBEX_JWKS_URL: `${P}/v1/verification`,
    WEBEX_PEOPLE_URL: `${P}/v1/people/me`,
    WEBEX_ISSUERS: provider.issuer,
    REDIRECT_URI: redirectUri,
    ...extraVars,
  };

  // Every response from the Worker's port, whoever produced it: the Worker, or the runtime
  // itself (a "Worker threw" 500, a refusal before the Worker ran). The one-log-line-per-
  // response check then catches a crash, which leaves no log line; a test that sends what the
  // runtime refuses first must say so and not use the recording browsers for it.
  const workerResponses = [];
  const observe = (r) => {
    const u = new URL(r.url);
    if (Number(u.port) === workerPort) {
      workerResponses.push({ method: r.method, route: u.pathname, status: r.status, fromWorker: isWorkers(r.headers) });
    }
  };

  const cleanUp = async () => {
    await provider.close();
    await fs.rm(persistDir, { recursive: true, force: true }).catch(() => {});
  };
  let dev;
  try {
    dev = await startWranglerDev({
      port: workerPort,
      vars,
      persistDir,
      configArgs,
      readyTimeoutMs,
      keepOutput,
      onLine: onOutputLine,
      onReady: (res) => {
        workerResponses.push({ method: 'GET', route: '/', status: res.status, fromWorker: fromWorker(res) });
      },
    });
  } catch (err) {
    await cleanUp();
    throw err;
  }
  let stopped = false;
  /**
   * Stop wrangler and the provider; but first, unless `checkLogs` is false (a caller whose
   * test already failed), the end-of-stack log check. Its error is thrown once everything
   * is stopped.
   */
  const stop = async ({ checkLogs = checkLogsOnStop } = {}) => {
    if (stopped) return;
    stopped = true;
    let failure = null;
    if (checkLogs) {
      try {
        await assertRequestLogs(stack, logCheckTimeoutMs === undefined ? {} : { timeoutMs: logCheckTimeoutMs });
      } catch (err) {
        err.message = `${workerOrigin}: end-of-stack log check: ${err.message}`;
        failure = err;
      }
    }
    await dev.stop();
    await cleanUp();
    if (failure) throw failure;
  };
  const output = () => dev.output();

  const seenCodes = new Set();
  // `METHOD route status` of requests a real browser makes on its own, unseen by the test.
  const unrecorded = new Set();

  const stack = {
    workerOrigin,
    workerUrl: workerOrigin,
    redirectUri,
    provider,
    clientId,
    clientSecret,
    persistDir,
    seenCodes,
    /** The wrangler process (its workerd processes are its descendants). */
    wranglerPid: dev.pid,
    /** Responses the Worker produced for this stack's browsers (see observe above). */
    workerResponses,
    /** Gateway mode's AUTH_PREFIX ('' in standalone mode). */
    authPrefix,
    /** Whether an answer (its headers: fetch Headers or a plain object) is the Worker's. */
    isWorkers,
    /**
     * Requests of this kind (e.g. 'GET', '/favicon.ico', 404) may have log lines without a
     * recorded response: a real browser makes them on its own and its driver does not report
     * them. The end-of-stack check leaves such lines out of the one-line-per-response count
     * only; the rest of the check applies to them.
     */
    allowUnrecorded(method, route, status) {
      unrecorded.add(`${method} ${route} ${status}`);
    },
    unrecorded,

    /** Everything wrangler (and so the Worker) printed so far, colour codes removed. */
    logs: () => stripAnsi(output()),
    /** A marker for logsSince(). */
    logMark: () => output().length,
    logsSince: (mark) => stripAnsi(output().slice(mark)),
    /** JSON objects logged by the Worker (lines that parse as JSON objects). */
    jsonLogs(since = 0) {
      const out = [];
      for (const line of stripAnsi(output().slice(since)).split('\n')) {
        const i = line.indexOf('{');
        if (i === -1) continue;
        try {
          const obj = JSON.parse(line.slice(i));
          if (obj && typeof obj === 'object') out.push(obj);
        } catch { /* not JSON */ }
      }
      return out;
    },
    /** Wait (briefly) until a log line containing `needle` shows up after `mark`. */
    async waitForLog(needle, mark = 0, timeoutMs = 5_000) {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        if (stripAnsi(output().slice(mark)).includes(needle)) return true;
        await sleep(100);
      }
      return stripAnsi(output().slice(mark)).includes(needle);
    },

    stop,

    newBrowser: () => new Browser(undefined, { onResponse: observe }),

    url: (p) => new URL(p, workerOrigin).href,

    /** Keys of the local AUTH_KV namespace (via `wrangler kv key list --local`). */
    async kvKeys() {
      return (await stack.kvEntries()).map((k) => k.name);
    },

    /** Keys with their expiry: `{ name, expiration }` (seconds since the epoch, as KV lists them). */
    async kvEntries() {
      const { stdout } = await runWrangler([
        'kv', 'key', 'list', '--binding', 'AUTH_KV', '--local', '--persist-to', persistDir, ...configArgs,
      ]);
      const start = stdout.indexOf('[');
      const end = stdout.lastIndexOf(']');
      assert.ok(start !== -1 && end > start, `unexpected kv key list output:\n${stdout}`);
      const list = JSON.parse(stdout.slice(start, end + 1));
      return list.map((k) => (typeof k === 'string' ? { name: k, expiration: undefined } : { name: k.name, expiration: k.expiration }));
    },

    /** The session: keys in KV, sorted. */
    async sessionKeys() {
      return (await stack.kvKeys()).filter((k) => k.startsWith('session:')).sort();
    },

    async sessionCount() {
      return (await stack.sessionKeys()).length;
    },

    /**
     * GET /login and walk through the provider (login form included) up to the redirect back
     * to the Worker's callback. Does NOT request the callback. With `start` an absolute URL
     * and `redirectUri` its Worker's callback, it signs in another Worker whose redirect URI
     * the provider accepts (startStack's extraRedirectUris).
     */
    async beginLogin(browser, { login = 'demo', password = 'demo', start, headers, redirectUri: callbackUri = redirectUri } = {}) {
      // Gateway mode starts at a protected page, which sends the browser to the login route.
      let loginResponse = await browser.request(stack.url(start ?? `${authPrefix}/login`), { headers });
      if (isRedirect(loginResponse.status) && loginResponse.location?.startsWith(`${workerOrigin}${authPrefix}/login?`)) {
        loginResponse = await browser.request(loginResponse.location, { headers });
      }
      assert.equal(loginResponse.status, 302, `GET /login: expected 302, got ${loginResponse.status}\n${loginResponse.text.slice(0, 500)}`);
      assert.ok(loginResponse.location?.startsWith(`${provider.url}/v1/authorize?`),
        `GET /login: Location should point at the provider's authorize endpoint, got ${loginResponse.location}`);
      const authorizeUrl = new URL(loginResponse.location);

      let loc = loginResponse.location;
      let sawLoginForm = false;
      for (let hop = 0; hop < 12; hop += 1) {
        if (loc.startsWith(`${callbackUri}?`) || loc === callbackUri) {
          const callbackUrl = new URL(loc);
          const code = callbackUrl.searchParams.get('code');
          if (code) seenCodes.add(code);
          return {
            loginResponse,
            authorizeUrl,
            callbackUrl: callbackUrl.href,
            state: callbackUrl.searchParams.get('state'),
            code,
            sawLoginForm,
          };
        }
        assert.ok(loc.startsWith(`${provider.url}/`), `unexpected redirect target during login: ${loc}`);
        const r = await browser.request(loc);
        if (isRedirect(r.status)) {
          loc = r.location;
          continue;
        }
        const form = formsOf(r.text).find((f) => f.inputs.some((i) => i.name === 'login'));
        assert.ok(r.status === 200 && form, `provider answered ${r.status} without a login form at ${loc}:\n${textOf(r.text).slice(0, 800)}`);
        const body = new URLSearchParams();
        for (const input of form.inputs) {
          if (!input.name) continue;
          if (input.name === 'login') body.set('login', login);
          else if (input.name === 'password') body.set('password', password);
          else if (input.type === 'hidden') body.set(input.name, input.value);
        }
        const action = new URL(form.action || loc, loc).href;
        const posted = await browser.request(action, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', origin: provider.url },
          body: body.toString(),
        });
        assert.ok(isRedirect(posted.status), `login form POST answered ${posted.status}:\n${textOf(posted.text).slice(0, 800)}`);
        sawLoginForm = true;
        loc = posted.location;
      }
      throw new Error('too many redirects during login');
    },

    /**
     * GET the callback URL (as the browser would after the provider's redirect), tagged with
     * a request id of its own (`requestId` in the result) for logLineFor().
     */
    async completeLogin(browser, callbackUrl) {
      const requestId = newRequestId();
      const response = await browser.request(callbackUrl, { headers: { referer: `${provider.url}/`, 'cf-ray': requestId } });
      return { ...response, requestId };
    },

    /** Full login: /login -> provider -> callback -> GET /. */
    async login(browser, options) {
      const begun = await stack.beginLogin(browser, options);
      const callback = await stack.completeLogin(browser, begun.callbackUrl);
      assert.equal(callback.status, 302, `callback: expected 302, got ${callback.status}\n${textOf(callback.text).slice(0, 800)}\n--- recent worker logs ---\n${stripAnsi(output().slice(-3000))}`);
      assert.equal(new URL(callback.location).pathname, '/', `callback should redirect to /, got ${callback.location}`);
      assert.equal(new URL(callback.location).origin, workerOrigin);
      const home = await browser.request(stack.url('/'));
      return { ...begun, callback, home };
    },

    async logout(browser) {
      return browser.request(stack.url('/logout'), {
        method: 'POST',
        headers: { origin: workerOrigin, 'content-type': 'application/x-www-form-urlencoded' },
        body: '',
      });
    },

    /**
     * Assert that a (rejected) callback response started no session: no session cookie with
     * a value, and GET / with this browser shows the signed-out page.
     */
    async assertNoSession(browser, response) {
      if (response) {
        const sc = setCookieFor(response, SESSION_COOKIE);
        assert.ok(!sc || sc.value === '' || sc.value === '""',
          `response must not set a ${SESSION_COOKIE} cookie with a value, got: ${sc && `${sc.name}=${sc.value}`}`);
      }
      const home = await browser.request(stack.url('/'));
      assert.equal(home.status, 200);
      assert.match(home.text, /Sign in with Webex/, 'GET / should show the signed-out page');
      assert.ok(!home.text.includes('id="id-token-claims"'), 'GET / must not show a profile');
      return home;
    },

    /** Everything secret that has passed through the tests so far. */
    secretsSeen() {
      return {
        clientSecret,
        codes: [...new Set([...seenCodes, ...provider.issued.codes])],
        accessTokens: [...provider.issued.accessTokens],
        refreshTokens: [...provider.issued.refreshTokens],
        idTokens: [...provider.issued.idTokens],
      };
    },

    /** Assert the Worker's output never contains the client secret, a code or a token. */
    assertLogsClean() {
      const s = stack.secretsSeen();
      const logs = stripAnsi(output());
      assert.ok(!logs.includes(s.clientSecret), 'worker logs contain the client secret');
      for (const code of s.codes) {
        assert.ok(!logs.includes(code), `worker logs contain an authorization code (${code.slice(0, 4)}...)`);
        assert.ok(!logs.includes(`code=${code}`), 'worker logs contain code=<code>');
      }
      for (const [label, list] of [['access token', s.accessTokens], ['refresh token', s.refreshTokens], ['ID token', s.idTokens]]) {
        for (const t of list) {
          assert.ok(!logs.includes(t), `worker logs contain an ${label}`);
          if (label === 'ID token') {
            assert.ok(!logs.includes(t.split('.').slice(0, 2).join('.')), 'worker logs contain an ID token (header.payload)');
          }
        }
      }
    },
  };
  return stack;
}

/**
 * Assert the security headers every HTML response must carry; and no HSTS over plain http
 * (RFC 6797 §7.2: only responses over HTTPS carry it).
 */
export function assertSecurityHeaders(response, label = response.url) {
  assert.ok(response.headers.get('content-security-policy'), `${label}: missing Content-Security-Policy`);
  if (String(response.url).startsWith('http://')) {
    assert.equal(response.headers.get('strict-transport-security'), null, `${label}: HSTS over plain http`);
  }
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff', `${label}: X-Content-Type-Options`);
  assert.equal(response.headers.get('referrer-policy'), 'no-referrer', `${label}: Referrer-Policy`);
}

let requestCounter = 0;
/** A fresh id for the `cf-ray` header, which the Worker logs as request_id: a test can then
 *  find the log line of exactly its request, whatever else is logged around it. */
export function newRequestId() {
  requestCounter += 1;
  return `t${process.pid}-${requestCounter}-${crypto.randomBytes(4).toString('hex')}`;
}

/** A request the Worker logs under a request id we choose. */
export function tagged(stack, browser, p, { method = 'GET', headers = {}, body } = {}) {
  const id = newRequestId();
  return browser.request(stack.url(p), { method, headers: { ...headers, 'cf-ray': id }, body })
    .then((response) => ({ ...response, requestId: id }));
}

/** The Worker's request log line for a response that carries `requestId`. */
export async function logLineFor(stack, response, timeoutMs = 5_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    // The object itself, wherever it is in the output (robust to lines that other output
    // was interleaved with).
    const m = new RegExp(`\\{[^{}\\n]*"request_id":"${response.requestId}"[^{}\\n]*\\}`).exec(stack.logs());
    if (m) {
      const line = JSON.parse(m[0]);
      if (line.event === 'request') return line;
    }
    if (Date.now() > end) {
      throw new Error(`no log line for request ${response.requestId} (${response.method} ${response.url} -> ${response.status})`
        + `\n--- recent worker output ---\n${stack.logs().slice(-3000)}`);
    }
    await sleep(50);
  }
}

/**
 * Whether a Set-Cookie (parsed) deletes its cookie: no value left, and a Max-Age of zero or
 * less, or (without Max-Age, which takes precedence: RFC 6265 §5.3) an Expires in the past.
 */
export function isClearing(cookie) {
  if (!cookie || cookie.value !== '') return false;
  const maxAge = cookie.attrs['max-age'];
  if (maxAge !== undefined) return Number(maxAge) <= 0;
  return typeof cookie.attrs.expires === 'string' && Date.parse(cookie.attrs.expires) <= Date.now();
}

/** GET / (or any page) answered with the signed-in profile. */
export function isProfile(response) {
  return response.status === 200 && response.text.includes('id="id-token-claims"');
}

/** GET / answered with the signed-out page. */
export function isSignedOut(response) {
  return response.status === 200
    && /Sign in with Webex/.test(response.text)
    && !response.text.includes('id="id-token-claims"');
}

/** POST as this site's own pages do (same origin), tagged with a request id. */
export function samePost(stack, browser, p, headers = {}) {
  return tagged(stack, browser, p, {
    method: 'POST',
    headers: {
      origin: stack.workerOrigin,
      'sec-fetch-site': 'same-origin',
      'content-type': 'application/x-www-form-urlencoded',
      ...headers,
    },
    body: '',
  });
}

/**
 * A callback the Worker refused: `status`, an HTML page with the security headers that offers
 * "Start again" and names the reason code, no session cookie set, GET / signed out afterwards
 * in this browser, no new session in KV (when `sessionsBefore` is given), and the log line of
 * exactly this request (`res.requestId`, which completeLogin() and tagged() set) with this
 * status and `reason`. Resolves to that log line.
 */
export async function assertRefusedCallback(stack, browser, res, { status, reason, sessionsBefore, label = reason }) {
  assert.equal(res.status, status,
    `${label}: expected ${status}, got ${res.status}: ${textOf(res.text).slice(0, 400)}\n--- recent worker output ---\n${stack.logs().slice(-1500)}`);
  assert.match(res.headers.get('content-type') || '', /text\/html/, `${label}: an HTML page`);
  assert.match(res.text, /Start again/, `${label}: the page offers "Start again"`);
  assertSecurityHeaders(res, `${label} error page`);
  assert.ok(res.text.includes(reason), `${label}: the page names the reason code ${reason}`);
  const sc = setCookieFor(res, SESSION_COOKIE);
  assert.equal(sc, null, `${label}: no session cookie set, got ${sc && `${sc.name}=${sc.value}`}`);
  await stack.assertNoSession(browser);
  if (sessionsBefore !== undefined) {
    assert.equal(await stack.sessionCount(), sessionsBefore, `${label}: no new session in KV`);
  }
  assert.ok(res.requestId, `${label}: the response carries a request id (use completeLogin or tagged)`);
  const line = await logLineFor(stack, res);
  assert.equal(line.route, new URL(res.url).pathname, `${label}: log line route`);
  assert.equal(line.status, status, `${label}: log line status`);
  assert.equal(line.reason, reason, `${label}: reason in the log line ${JSON.stringify(line)}`);
  return line;
}

/**
 * A stack for one test: started, handed to `fn`, stopped. The end-of-stack log check runs
 * when `fn` succeeded (when it failed, its own error is the one to report).
 */
export async function withStack(options, fn) {
  const stack = await startStack(options);
  let ok = false;
  try {
    const result = await fn(stack);
    ok = true;
    return result;
  } finally {
    await stack.stop(ok ? {} : { checkLogs: false });
  }
}

/** Stop every stack given (nulls skipped); the first failure is thrown once all are stopped. */
export async function stopAll(...stacks) {
  const results = await Promise.allSettled(stacks.filter(Boolean).map((s) => s.stop()));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Same URL with one character of query parameter `name` changed. */
export function tamperParam(url, name) {
  const u = new URL(url);
  const v = u.searchParams.get(name);
  assert.ok(v, `no ${name} in ${url}`);
  const i = Math.floor(v.length / 2);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const replacement = alphabet[(alphabet.indexOf(v[i]) + 1) % alphabet.length] || 'A';
  u.searchParams.set(name, v.slice(0, i) + replacement + v.slice(i + 1));
  return u.href;
}

/**
 * The end-of-stack log check, which stack.stop() runs (see startStack). The Worker's request
 * log, checked against what the stack's browsers saw: one
 * `"event":"request"` JSON line per Worker response, each with method, route, status, reason,
 * duration_ms and a request_id that no other line has; every response from the Worker, not
 * the runtime; and no secret (client secret, code, code verifier, token) and no user's email
 * in any of the output. Returns the request lines.
 */
async function assertRequestLogs(stack, { timeoutMs = 10_000 } = {}) {
  const requestLines = () => stack.jsonLogs().filter((o) => o.event === 'request');
  const end = Date.now() + timeoutMs;
  while (requestLines().length < stack.workerResponses.length && Date.now() < end) {
    await sleep(100);
  }
  await sleep(300); // anything late (an extra line) shows up too
  const lines = requestLines();
  for (const line of lines) {
    assert.equal(typeof line.method, 'string', `method in ${JSON.stringify(line)}`);
    assert.equal(typeof line.route, 'string', `route in ${JSON.stringify(line)}`);
    assert.ok(line.route.startsWith('/'), `route in ${JSON.stringify(line)}`);
    assert.equal(typeof line.status, 'number', `status in ${JSON.stringify(line)}`);
    assert.ok(typeof line.reason === 'string' && line.reason.length > 0, `reason in ${JSON.stringify(line)}`);
    assert.ok(Number.isInteger(line.duration_ms) && line.duration_ms >= 0, `duration_ms in ${JSON.stringify(line)}`);
    assert.ok(typeof line.request_id === 'string' && line.request_id.length > 0, `request_id in ${JSON.stringify(line)}`);
  }
  const notFromWorker = stack.workerResponses.filter((r) => r.fromWorker === false);
  assert.deepEqual(notFromWorker, [],
    'every response on the Worker port came from the Worker (one without its headers is the runtime\'s: a crash, or a refusal the test must make without the recording browsers)');
  const key = (o) => `${o.method} ${o.route} ${o.status}`;
  const count = (list) => {
    const m = new Map();
    for (const o of list) m.set(key(o), (m.get(key(o)) || 0) + 1);
    return Object.fromEntries([...m.entries()].sort());
  };
  const counted = lines.filter((l) => !stack.unrecorded.has(key(l)));
  assert.deepEqual(count(counted), count(stack.workerResponses.filter((r) => !stack.unrecorded.has(key(r)))),
    `one request log line per Worker response (${counted.length} lines, ${stack.workerResponses.length} responses`
    + `${stack.unrecorded.size ? `; not counted: ${[...stack.unrecorded].join(', ')}` : ''})`);

  // With a cf-ray header the request id is the caller's (every test's is new); without one
  // the Worker draws 64 random bits: either way no two lines share one.
  const ids = lines.map((l) => l.request_id);
  const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
  assert.deepEqual(repeated, [], `request_id values repeat among ${ids.length} lines`);

  stack.assertLogsClean();
  const logs = stack.logs();
  for (const v of stack.provider.issued.codeVerifiers || []) {
    assert.ok(!logs.includes(v), 'worker logs contain a PKCE code verifier');
  }
  for (const email of [DEMO_USER.email, ROGUE_USER.email]) {
    assert.ok(!logs.includes(email), 'worker logs contain the user\'s email');
  }
  return lines;
}
