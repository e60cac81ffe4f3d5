import { expect, type Locator, type Page } from "@playwright/test";
import { PASSWORD, test, USERS } from "./fixtures";
import { TaskDetailPage } from "./pages/task-detail-page";
import { TasksPage } from "./pages/tasks-page";

// The console with the keyboard alone: Tab to each control (never a click), Enter, Space or
// the arrow keys to use it, and a focus ring a person can see on every stop. The session is
// this test's own (it signs in and out), and the device is one no other test issues to.
test.use({ storageState: { cookies: [], origins: [] } });

const DEVICE = "fw-ams-07";

/**
 * Presses Tab until `target` has the focus (at most `max` presses), then checks the focus
 * can be seen: an outline drawn around it.
 */
async function tabTo(page: Page, target: Locator, max = 80) {
  await expect(target).toBeVisible();
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement)) {
      const ring = await target.evaluate((el) => {
        const s = getComputedStyle(el);
        return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
      });
      expect(ring.style, "the focused control shows an outline").not.toBe("none");
      expect(ring.width, "the focused control shows an outline").toBeGreaterThan(0);
      return;
    }
    await page.keyboard.press("Tab");
  }
  throw new Error(`${target} was not reached with ${max} presses of Tab`);
}

test("issue a task, cancel it, switch organization and sign out, with the keyboard only", async ({ page, signIn }) => {
  test.setTimeout(120_000);
  const tasks = new TasksPage(page);
  const task = new TaskDetailPage(page);

  // Sign in: the email field has the focus as the page opens.
  await signIn.goto();
  await expect(signIn.email).toBeFocused();
  await page.keyboard.type(USERS.admin);
  await tabTo(page, signIn.password);
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press("Enter");
  await expect(tasks.heading).toBeVisible();
  await expect(page).toHaveURL(/\/tasks$/);

  // Issue a SYNC to one device from the disclosure above the list.
  await tabTo(page, tasks.issueForm.disclosure);
  await page.keyboard.press("Enter");
  await expect(tasks.issueForm.form).toBeVisible();
  await tabTo(page, tasks.issueForm.type);
  // A closed select takes the first letter of an option.
  await page.keyboard.type("SYNC");
  await expect(tasks.issueForm.type).toHaveValue("SYNC");
  await tabTo(page, tasks.issueForm.target("Devices"));
  await expect(tasks.issueForm.target("Devices")).toBeChecked();
  await tabTo(page, tasks.issueForm.names);
  await page.keyboard.type(DEVICE);
  await tabTo(page, tasks.issueForm.submit);
  await page.keyboard.press("Enter");
  await expect(tasks.issueForm.success).toContainText("Issued 1 task");

  // Open it from the answer's link, and cancel it (the confirmation is accepted as Enter would).
  const link = tasks.issueForm.success.getByRole("link").first();
  await tabTo(page, link);
  await page.keyboard.press("Enter");
  await expect(task.statusBadge).toHaveText("PENDING");
  await expect(task.heading).toContainText(/^[0-9A-Za-z]{8}$/);
  page.once("dialog", (d) => void d.accept());
  await tabTo(page, task.cancel);
  await page.keyboard.press("Enter");
  await expect(task.statusBadge).toHaveText("CANCELLED");

  // Switch to Globex: the arrow key picks the next organization, and the switch follows.
  await tabTo(page, task.orgSwitcher);
  await page.keyboard.press("ArrowDown");
  await expect(page).toHaveURL(/\/tasks$/);
  await expect(page.getByText("Every action taken on a device of Globex, newest first.")).toBeVisible();

  // Sign out from the header.
  const signOut = page.getByRole("banner").getByRole("button", { name: "Sign out" });
  await tabTo(page, signOut);
  await page.keyboard.press("Enter");
  await expect(signIn.heading).toBeVisible();
  await page.goto("/tasks");
  await expect(page).toHaveURL(/\/sign-in/);
});
