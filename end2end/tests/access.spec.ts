import { expect, test, type Page } from '@playwright/test';
import { ADMIN, PASSWORD, SUPERVISOR, VIEWER, signIn } from './auth';
import { islandReady, tapNav } from './nav';

// Each test here starts signed out and signs in through the form.
test.use({ storageState: { cookies: [], origins: [] } });

async function navLinks(page: Page): Promise<string[]> {
  // Without the badges' counts (an alarm or an approval may be waiting on the line).
  return (await page.locator('nav.nav a').allInnerTexts()).map((t) => t.replace(/\s*\d+\s*$/, '').trim());
}

test('nobody gets past the sign-in page, and a wrong password says so', async ({ page }) => {
  await page.goto('/cells?band=high');
  await expect(page).toHaveURL(/\/signin\?next=/);
  // Large enough for gloves.
  for (const id of ['username', 'password', 'signin']) {
    const box = await page.getByTestId(id).boundingBox();
    expect(box?.height ?? 0).toBeGreaterThanOrEqual(48);
  }
  await page.getByTestId('username').fill(VIEWER);
  await page.getByTestId('password').fill('not the password');
  await page.getByTestId('signin').tap();
  await expect(page.getByTestId('signin-error')).toHaveText('Wrong name or password.');
  // The right one goes where the person was headed.
  await page.getByTestId('username').fill(VIEWER);
  await page.getByTestId('password').fill(PASSWORD);
  await page.getByTestId('signin').tap();
  await expect(page).toHaveURL(/\/cells\?band=high$/);
  await expect(page.getByTestId('whoami')).toContainText('Viewer');
});

test('a supervisor on a tablet sees the audit trail but not import or users', async ({ page }) => {
  await signIn(page, SUPERVISOR, PASSWORD);
  await expect(page.getByTestId('whoami')).toContainText('Supervisor');
  const links = await navLinks(page);
  expect(links).toContain('Audit');
  expect(links).not.toContain('Import');
  expect(links).not.toContain('Users');
  await tapNav(page, 'Audit');
  await expect(page).toHaveURL(/\/audit/);
  // Their own sign-in is in the trail.
  const rows = page.locator('table tbody tr');
  await expect(rows.filter({ hasText: SUPERVISOR }).first()).toBeVisible();
  await expect(rows.filter({ hasText: 'Signed in' }).first()).toBeVisible();
  await page.screenshot({ path: 'test-results/audit-supervisor-tablet.png', fullPage: true });
});

test('a viewer decides nothing: no import, no promote, no approvals, no audit, no users', async ({ page }) => {
  await signIn(page, VIEWER, PASSWORD);
  expect(await navLinks(page)).toEqual(['Line', 'Quality', 'Cells', 'Actions', 'Alarms', 'SPC', 'Orders', 'Models']);
  // The actions journal is theirs to read, not to decide on.
  await page.goto('/actions');
  await expect(page.getByTestId('modes')).toBeVisible();
  await expect(page.getByTestId('propose')).toHaveCount(0);
  await expect(page.getByTestId('approve')).toHaveCount(0);
  await expect(page.getByTestId('mode-CAS_01-automatic')).toBeDisabled();
  await page.goto('/models');
  await expect(page.getByTestId('model-card').first()).toBeVisible();
  await expect(page.getByRole('button', { name: 'Make active' })).toHaveCount(0);
  await page.goto('/import');
  await expect(page.getByTestId('not-allowed')).toBeVisible();
  await page.goto('/admin/users');
  await expect(page.getByTestId('not-allowed')).toBeVisible();
  // The server refuses too, whatever the page shows.
  const r = await page.request.post('/api/fn/promote', { form: { name: 'default-forest' } });
  expect(r.status()).toBe(403);
});

test('an admin adds a user and changes their role; sign-out ends the session', async ({ page }) => {
  await signIn(page, ADMIN, 'e2e admin password');
  await tapNav(page, 'Users');
  await expect(page).toHaveURL(/\/admin\/users/);
  await islandReady(page, 'users-island');
  await page.getByTestId('new-username').fill('olga');
  await page.getByTestId('new-role').selectOption('operator');
  await page.getByTestId('new-password').fill(PASSWORD);
  await page.getByTestId('add-user').tap();
  const row = page.locator('[data-testid="user-row"][data-username="olga"]');
  await expect(row).toBeVisible();
  await row.getByTestId('user-role').selectOption('supervisor');
  await expect(async () => {
    const r = await page.request.post('/api/fn/users');
    const users = await r.json();
    expect(users.find((u: { username: string }) => u.username === 'olga').role).toBe('supervisor');
  }).toPass({ timeout: 10_000 });
  await page.screenshot({ path: 'test-results/users-admin-tablet.png', fullPage: true });

  await page.getByTestId('signout').tap();
  await expect(page).toHaveURL(/\/signin$/);
  await page.goto('/quality');
  await expect(page).toHaveURL(/\/signin\?next=/);
});
