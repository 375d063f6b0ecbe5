// What the browser tests (tests/browser/*_test.mjs) share: the test data and screenshot folders,
// playwright-core from web/package-lock.json, and Debian's /usr/bin/chromium launched headless.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { chromium } = createRequire(join(repo, 'web', 'package.json'))('playwright-core');

export const TESTDATA = process.env.FACEFUSE_TESTDATA ?? join(process.env.HOME, '.cache', 'facefuse', 'testdata');
export const SHOTS = process.env.FACEFUSE_SCREENSHOTS ?? join(repo, 'build', 'browser-screenshots');
mkdirSync(SHOTS, { recursive: true });

// Headless Chromium without its background services; extraArgs: more command-line switches.
export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', ...extraArgs],
  });
}

// Collects a page's console errors and uncaught exceptions into `errors` (a test then asserts it
// stays empty), except console errors whose text `ignore` accepts.
export function collectErrors(page, errors, ignore = () => false) {
  page.on('console', (m) => {
    if (m.type() === 'error' && !ignore(m.text())) errors.push(`${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
}
