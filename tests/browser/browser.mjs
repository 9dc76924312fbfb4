// browser.mjs - headless Chromium for the browser tests and benchmarks:
// Debian's /usr/bin/chromium driven by playwright-core (npm, pinned in
// tests/browser/package.json, installed by tests/browser/setup.sh into
// $FERRY_TEST_MODELS/browser; never a downloaded browser).
//
//   import { launchChromium } from './browser.mjs';
//   const browser = await launchChromium();   // throws naming what is missing
//   const context = await browser.newContext(); // a fresh profile: empty caches
//
// FERRY_PLAYWRIGHT_DIR overrides where playwright-core is installed,
// FERRY_CHROMIUM the browser binary.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const CHROMIUM = process.env.FERRY_CHROMIUM || '/usr/bin/chromium';

export function playwrightDir() {
  if (process.env.FERRY_PLAYWRIGHT_DIR) return process.env.FERRY_PLAYWRIGHT_DIR;
  if (process.env.FERRY_TEST_MODELS) return path.join(process.env.FERRY_TEST_MODELS, 'browser');
  throw new Error('browser.mjs: set FERRY_TEST_MODELS (or FERRY_PLAYWRIGHT_DIR) to where tests/browser/setup.sh installed playwright-core');
}

export async function launchChromium(extraArgs = []) {
  const dir = playwrightDir();
  let pw;
  try {
    pw = createRequire(path.join(dir, 'package.json'))('playwright-core');
  } catch (e) {
    throw new Error(`browser.mjs: playwright-core is not installed in ${dir} (run tests/browser/setup.sh ${dir}): ${e.message}`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`browser.mjs: ${CHROMIUM} is missing (scripts/setup-debian.sh installs chromium)`);
  return pw.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...extraArgs],
  });
}
