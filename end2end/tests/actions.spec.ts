import { expect, test, type Page } from '@playwright/test';
import { PASSWORD, SUPERVISOR, signIn } from './auth';
import { islandReady } from './nav';

// A supervisor on a tablet, signed in through the form.
test.use({ storageState: { cookies: [], origins: [] } });

async function noHorizontalScroll(page: Page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

test('a supervisor proposes a slower assembly speed, approves it with one tap, and it shows as verified', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page, SUPERVISOR, PASSWORD);
  await page.getByRole('link', { name: /^Actions/ }).tap();
  await expect(page).toHaveURL(/\/actions$/);
  await islandReady(page, 'actions-island');
  await expect(page.getByRole('heading', { name: 'Corrective actions', exact: true })).toBeVisible();
  await expect(page.getByTestId('modes')).toContainText('CAS_01');
  await expect(page.locator('[data-testid="mode-row"][data-machine="CAS_01"]')).toHaveAttribute('data-mode', 'advisory');

  // Propose: CAS_01's speed setpoint, 50 RPM below what it is now.
  await page.getByTestId('propose-open').tap();
  const tag = page.getByTestId('propose-tag');
  const option = tag.locator('option', { hasText: 'CAS_01 · Speed setpoint' });
  await tag.selectOption(await option.getAttribute('value') ?? '0');
  await expect(page.getByTestId('propose-now')).toHaveText(/now \d/, { timeout: 30_000 });
  const now = Number((await page.getByTestId('propose-now').textContent() ?? '').replace(/[^\d.]/g, ''));
  expect(now).toBeGreaterThan(600);
  const reason = `slower for the separator, e2e ${Date.now()}`;
  await page.getByTestId('propose-value').fill(String(now - 50));
  await page.getByTestId('propose-reason').fill(reason);
  const card = page.getByTestId('pending-action').filter({ hasText: reason });
  // The machine walks through its states; a write waits until it runs again.
  await expect(async () => {
    await page.getByTestId('propose-submit').tap();
    await expect(card).toBeVisible({ timeout: 3_000 });
  }).toPass({ timeout: 90_000 });
  await expect(card.getByTestId('pending-change')).toHaveText(new RegExp(`^${now}(\\.0)? → ${now - 50}(\\.0)? RPM$`));
  await expect(page.getByTestId('actions-count')).toBeVisible();
  await noHorizontalScroll(page);
  await page.screenshot({ path: 'test-results/actions-pending-tablet.png', fullPage: true });

  // One tap: written, read back, verified.
  const id = await card.getAttribute('data-id');
  const approve = card.getByTestId('approve');
  const box = await approve.boundingBox();
  expect(box?.height ?? 0).toBeGreaterThanOrEqual(48);
  await approve.tap();
  await expect(page.getByTestId('action-outcome')).toContainText(`#${id} CAS_01 Speed setpoint: Written and verified`);
  await expect(card).toHaveCount(0);
  const row = page.locator(`[data-testid="journal-row"][data-id="${id}"]`);
  await expect(row).toHaveAttribute('data-state', 'verified');
  await expect(row.getByTestId('journal-state')).toHaveText("Written and verified");
  await expect(row).toContainText(new RegExp(`read back ${now - 50}(\\.0)?`));
  await expect(row).toContainText(`by ${SUPERVISOR}`);

  // The journal filters by outcome, kept in the address.
  await page.getByTestId('filter-state').selectOption('verified');
  await expect(page).toHaveURL(/state=verified/);
  await expect(row).toBeVisible();
  await expect(page.getByTestId('export-actions')).toHaveAttribute('href', /\/api\/v1\/export\/actions\.csv\?state=verified/);
  await noHorizontalScroll(page);
  await page.screenshot({ path: 'test-results/actions-verified-tablet.png', fullPage: true });
});
