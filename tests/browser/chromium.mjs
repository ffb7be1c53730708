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
