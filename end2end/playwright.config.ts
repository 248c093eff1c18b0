import { defineConfig, devices } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_PASSWORD, ADMIN_STATE } from './tests/auth';

// Debian's Chromium, never a downloaded browser.
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const port = Number(process.env.CELLGUARD_E2E_PORT || 3300);
const dataDir = mkdtempSync(join(tmpdir(), 'cellguard-e2e-'));

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'off',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
  },
  projects: [
    // Signs the admin in once and adds the users the access tests sign in as.
    { name: 'setup', testMatch: /auth\.setup\.ts/, use: { viewport: { width: 768, height: 1024 }, hasTouch: true } },
    {
      name: 'tablet',
      dependencies: ['setup'],
      use: {
        ...devices['Desktop Chrome'],
        viewport: { width: 768, height: 1024 },
        hasTouch: true,
        storageState: ADMIN_STATE,
      },
    },
  ],
  webServer: {
    // The release build made by `cargo leptos build --release --split`, run from the workspace root.
    command: `./target/release/cellguard serve --data-dir ${dataDir}`,
    cwd: '..',
    url: `http://127.0.0.1:${port}/readyz`,
    env: { LEPTOS_SITE_ADDR: `127.0.0.1:${port}`, RUST_LOG: 'warn', CELLGUARD_ADMIN_PASSWORD: ADMIN_PASSWORD },
    timeout: 60_000,
    reuseExistingServer: false,
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
