// The one way the browser tests start Chromium: Debian's build driven by playwright-core
// (it cannot download its own here), with the flags that keep it off the network.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

import { chromium } from 'playwright-core';

import { ROOT } from '../e2e/harness.mjs';

export const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Launches headless Chromium and makes sure the screenshot folder exists. */
export async function launchChromium() {
  await fs.mkdir(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Watches a page for what a person would not see but must not happen: script errors, console
 * errors, Content-Security-Policy violations (reported through the DOM event as console
 * errors by an init script, which runs whatever the page's CSP says), and Worker responses
 * of 400 or more other than the `allowed` ones (`'GET /favicon.ico 404'`-style strings).
 * Returns the list the test asserts empty at the end. Every response the page gets from the
 * stack's Worker is also recorded in `stack.workerResponses`, like the harness's own
 * browsers', for the log check when the stack stops.
 */
/** The stylesheet's path, standalone and in gateway mode (below `AUTH_PREFIX`). */
const STYLESHEETS = ['/style.css', '/_auth/style.css'];

export function watchPage(page, { stack, label = 'page', allowed = [] }) {
  const { workerOrigin } = stack;
  // Chromium asks for /favicon.ico by itself, and Playwright does not report that request:
  // the Worker's log lines for it have no recorded response.
  stack.allowUnrecorded('GET', '/favicon.ico', 404);
  for (const p of STYLESHEETS) stack.allowUnrecorded('GET', p, 200);
  const problems = [];
  const allowedSet = new Set(['GET /favicon.ico 404', ...allowed]);
  page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
  // Only the Worker's pages: the local provider's login form loads things from the internet.
  const onWorker = () => page.url().startsWith(workerOrigin);
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || !onWorker()) return;
    const text = msg.text();
    // Chromium reports the deliberate error pages' own status too; those are checked below.
    if (/^Failed to load resource: the server responded with a status of \d+/.test(text)) return;
    problems.push(`${label} console error on ${page.url()}: ${text}`);
  });
  page.on('pageerror', (err) => onWorker() && problems.push(`${label} script error on ${page.url()}: ${err.message}`));
  page.on('response', (r) => {
    if (!r.url().startsWith(workerOrigin)) return;
    // The stylesheet is cached for good: most of its responses come from the browser's
    // cache, which Playwright reports like any other. Its log lines are allowed unrecorded
    // (above); the e2e tests check what the Worker serves there.
    if (STYLESHEETS.includes(new URL(r.url()).pathname) && r.status() === 200) return;
    stack.workerResponses.push({
      method: r.request().method(),
      route: new URL(r.url()).pathname,
      status: r.status(),
      fromWorker: stack.isWorkers(r.headers()),
    });
    if (r.status() < 400) return;
    const key = `${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`;
    if (!allowedSet.has(key)) problems.push(`${label}: ${key}`);
  });
  return problems;
}
