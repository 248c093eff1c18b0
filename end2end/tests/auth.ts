import { expect, type Page } from '@playwright/test';
import { join } from 'node:path';

// The first admin, created by the server from CELLGUARD_ADMIN_PASSWORD (see
// playwright.config.ts); the setup project adds the other users.
export const ADMIN = 'admin';
export const ADMIN_PASSWORD = 'e2e admin password';
export const PASSWORD = 'e2e user password';
export const SUPERVISOR = 'sally';
export const VIEWER = 'victor';

// Where the setup project leaves the admin's signed-in browser state.
export const ADMIN_STATE = join(__dirname, '..', 'test-results', '.auth', 'admin.json');

// Signs in through the form, as a person would.
export async function signIn(page: Page, user: string, password: string, base = '') {
  await page.goto(`${base}/signin`);
  await page.getByTestId('username').fill(user);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('signin').tap();
  await expect(page.getByTestId('whoami')).toContainText(user);
}
