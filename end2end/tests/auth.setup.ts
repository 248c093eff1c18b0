import { expect, test as setup } from '@playwright/test';
import { ADMIN, ADMIN_PASSWORD, ADMIN_STATE, PASSWORD, SUPERVISOR, VIEWER, signIn } from './auth';

setup('the admin signs in and adds a supervisor and a viewer', async ({ page }) => {
  await signIn(page, ADMIN, ADMIN_PASSWORD);
  for (const [username, role] of [[SUPERVISOR, 'supervisor'], [VIEWER, 'viewer']]) {
    const r = await page.request.post('/api/fn/add_user', { form: { username, role, password: PASSWORD } });
    expect(r.status(), await r.text()).toBe(200);
  }
  await page.context().storageState({ path: ADMIN_STATE });
});
