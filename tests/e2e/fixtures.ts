import { test as base } from "@playwright/test";
import { SignInPage } from "./pages/sign-in-page";
import { TaskDetailPage } from "./pages/task-detail-page";
import { TasksPage } from "./pages/tasks-page";

export { expect } from "@playwright/test";

export const PASSWORD = "taskwire";
export const USERS = { admin: "admin@taskwire.local", viewer: "viewer@taskwire.local" } as const;

/**
 * Signed-in sessions saved by auth.setup.ts. The active organization lives on the server's
 * session, not in the browser, so a test that switches it gets a session of its own: the
 * other tests' "admin" session stays in Acme Corp whatever that test does.
 */
export const STATE = {
  admin: "tests/.artifacts/admin.json",
  viewer: "tests/.artifacts/viewer.json",
  /** An admin session for the test that switches organizations back and forth. */
  adminSwitcher: "tests/.artifacts/admin-switcher.json",
  /** An admin session left in Globex, to see the other organization's tasks. */
  adminGlobex: "tests/.artifacts/admin-globex.json",
} as const;

export const SCREENSHOTS = "tests/.artifacts/screenshots";

type Pages = { signIn: SignInPage; tasks: TasksPage; task: TaskDetailPage };

export const test = base.extend<Pages>({
  signIn: async ({ page }, provide) => provide(new SignInPage(page)),
  tasks: async ({ page }, provide) => provide(new TasksPage(page)),
  task: async ({ page }, provide) => provide(new TaskDetailPage(page)),
});
