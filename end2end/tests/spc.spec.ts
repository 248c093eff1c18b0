import { expect, test } from '@playwright/test';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN, ADMIN_PASSWORD, signIn } from './auth';

// A line of our own: the default plant, its simulator building 10 cells a second
// and shifting capacity up by 0.3 Ah after its 100th cell (about 4σ of the process).
const BASE_PORT = Number(process.env.CELLGUARD_E2E_PORT || 3300);
const WEB_PORT = BASE_PORT + 4;
const SHIFT_AFTER = 100;

function shiftedPlant(dir: string): string {
  const plant = readFileSync(join(__dirname, '..', '..', 'config', 'plant.toml'), 'utf8')
    .replace(/^cells_per_minute = 30$/m, `cells_per_minute = 600\nseed = 7\nshift = { measurement = "capacity", after_cells = ${SHIFT_AFTER}, by = 0.3 }`)
    .replace(/^check_every_s = 5$/m, 'check_every_s = 1');
  expect(plant).toContain('shift = {');
  const file = join(dir, 'plant.toml');
  writeFileSync(file, plant);
  return file;
}

test('an SPC chart shows the Nelson violations of a shifted process; an engineer zooms to one and freezes the limits, which raise an SPC alarm', async ({ page }) => {
  test.setTimeout(150_000);
  const dir = mkdtempSync(join(tmpdir(), 'cellguard-e2e-spc-'));
  const server = spawn('./target/release/cellguard', ['serve', '--data-dir', join(dir, 'data')], {
    cwd: '..',
    env: {
      ...process.env,
      CELLGUARD_CONFIG: shiftedPlant(dir),
      LEPTOS_SITE_ADDR: `127.0.0.1:${WEB_PORT}`,
      RUST_LOG: 'warn',
      CELLGUARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
    },
    stdio: 'ignore',
  });
  const base = `http://127.0.0.1:${WEB_PORT}`;
  try {
    await expect(async () => {
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    }).toPass({ timeout: 30_000 });
    await page.setViewportSize({ width: 1280, height: 900 });
    await signIn(page, ADMIN, ADMIN_PASSWORD, base);
    // 160 capacity values: the first 25 (the baseline) and 60 after the shift.
    await expect(async () => {
      const csv = await page.request.get(`${base}/api/v1/export/spc-chart.csv?measurement=capacity`);
      expect((await csv.text()).trim().split('\n').length).toBeGreaterThan(160);
    }).toPass({ timeout: 90_000, intervals: [2_000] });

    // From the capability table to the capacity chart.
    await page.goto(`${base}/spc`);
    await expect(page.getByTestId('capability-row').first()).toBeVisible();
    await page.locator('[data-testid="capability-row"][data-measurement="capacity"] a').click();
    await expect(page).toHaveURL(/\/spc\/chart\?measurement=capacity/);
    const chart = page.getByTestId('spc-chart');
    await expect(chart).toHaveAttribute('data-hydrated', 'true');
    await expect(page.getByTestId('limits-origin')).toHaveText('Computed from the first 25 points (not frozen)');

    // The shift breaks N1 (beyond 3σ) and N2 (9 in a row above the centre), named with
    // their points; the baseline's own points break neither.
    const n2 = page.locator('[data-testid="violation"][data-rule="N2"]');
    await expect(n2.first()).toBeVisible();
    await expect(page.locator('[data-testid="violation"][data-rule="N1"]').first()).toBeVisible();
    // One N2 episode starts where the shift does (a chance run before it may be listed too).
    const starts = (await n2.allTextContents()).map((t) => Number(/points (\d+)–/.exec(t)?.[1]));
    const at = starts.findIndex((p) => p >= SHIFT_AFTER - 15 && p <= SHIFT_AFTER + 10);
    expect(at, `N2 episodes start at ${starts}`).toBeGreaterThanOrEqual(0);
    const from = starts[at];
    await page.screenshot({ path: 'test-results/spc-chart-desktop.png' });

    // "Show" zooms the chart to the episode, in the browser.
    const range = page.getByTestId('zoom-range');
    const before = await range.textContent();
    await n2.nth(at).getByRole('button', { name: 'Show' }).click();
    await expect(range).not.toHaveText(before ?? '');
    await expect(range).toHaveText(new RegExp(`^points ${Math.max(1, from - 10)}–`));
    // A rule switched off is gone from the list and the URL keeps it.
    await page.locator('[data-testid="rule-toggle"][data-rule="N2"]').click();
    await expect(page).toHaveURL(/rules=N1%2CN3/);
    await expect(page.getByTestId('spc-chart')).toHaveAttribute('data-hydrated', 'true');
    await expect(n2).toHaveCount(0);
    await expect(page.locator('[data-testid="violation"][data-rule="N1"]').first()).toBeVisible();

    // Frozen with a reason: version 1, audited, and the chart now raises an SPC alarm.
    await page.getByTestId('freeze-note').fill('baseline before the shift');
    await page.getByTestId('freeze').click();
    await expect(page.getByTestId('limits-origin')).toContainText('Frozen limits, version 1 by admin');
    await expect(page.getByTestId('version')).toHaveCount(1);
    await expect(page.getByTestId('version')).toContainText('baseline before the shift');
    await expect(async () => {
      await page.goto(`${base}/alarms`);
      await expect(page.locator('[data-testid="alarm"][data-key="spc:measurement:HC/capacity:imr"]')).toBeVisible({ timeout: 1_000 });
    }).toPass({ timeout: 15_000 });
    const audit = await page.request.get(`${base}/api/v1/export/audit.csv?action=spc_limits_frozen`);
    expect(await audit.text()).toContain('measurement:HC/capacity:imr');
  } finally {
    server.kill('SIGTERM');
  }
});
