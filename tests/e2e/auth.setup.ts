// Signs in once per session the tests need and saves it: sign-in is limited to 10 a minute
// per address, so the specs reuse these instead of signing in again.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { expect, PASSWORD, STATE, test as setup, USERS } from "./fixtures";
import { TasksPage } from "./pages/tasks-page";

setup.beforeAll(() => mkdirSync(dirname(STATE.admin), { recursive: true }));

setup("sign in as the admin", async ({ page, signIn }) => {
  await signIn.goto();
  await signIn.signInAndLand(USERS.admin, PASSWORD);
  await expect(page.getByText("Every action taken on a device of Acme Corp, newest first.")).toBeVisible();
  await page.context().storageState({ path: STATE.admin });
});

setup("sign in as the viewer", async ({ page, signIn }) => {
  await signIn.goto();
  await signIn.signInAndLand(USERS.viewer, PASSWORD);
  await page.context().storageState({ path: STATE.viewer });
});

setup("sign in as the admin who switches organizations", async ({ page, signIn }) => {
  await signIn.goto();
  await signIn.signInAndLand(USERS.admin, PASSWORD);
  await expect(page.getByText("Every action taken on a device of Acme Corp, newest first.")).toBeVisible();
  await page.context().storageState({ path: STATE.adminSwitcher });
});

setup("sign in as the admin, in Globex", async ({ page, signIn }) => {
  await signIn.goto();
  await signIn.signInAndLand(USERS.admin, PASSWORD);
  await new TasksPage(page).switchOrganization("Globex");
  await page.context().storageState({ path: STATE.adminGlobex });
});
