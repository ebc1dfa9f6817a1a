// Headless Chromium for browser tests, driven by playwright-core. A test that needs it skips with
// the reason when Chromium is missing, except under CI=true, where that is a failure.

import { existsSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { chromium, type Browser } from 'playwright-core';

const executablePath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const flags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** Whether browser tests can run here; prints why not. Throws under CI=true when they cannot. */
export function browserAvailable(): boolean {
  if (existsSync(executablePath)) return true;
  const reason = `Chromium not found at ${executablePath} (apt-get install -y chromium)`;
  if (process.env['CI'] === 'true') throw new Error(`browser tests cannot run: ${reason}`);
  console.log(`skipping browser tests: ${reason}`);
  return false;
}

/** Launches Chromium, closed when the test ends. */
export async function launch(t: ExecutionContext): Promise<Browser> {
  const browser = await chromium.launch({ executablePath, args: flags, headless: true });
  t.teardown(() => browser.close());
  return browser;
}
