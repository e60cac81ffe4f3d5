import { mkdirSync } from "node:fs";
import { expect, SCREENSHOTS, STATE, test } from "./fixtures";
import { CARDS } from "./pages/task-detail-page";

// Full-page pictures of the two task pages, for a person to look at.
test.use({ storageState: STATE.admin });
test.beforeAll(() => mkdirSync(SCREENSHOTS, { recursive: true }));

test("the task list", async ({ page, tasks }) => {
  await tasks.goto();
  await expect(tasks.rows).toHaveCount(30);
  // Wait for the browser's relative times, so the picture shows what a person sees.
  await expect(tasks.column("Created").first()).toHaveText(/ago$|^just now$/);
  await page.screenshot({ path: `${SCREENSHOTS}/tasks-list.png`, fullPage: true });
});

test("the task list with the issue form open", async ({ page, tasks }) => {
  await tasks.goto();
  await tasks.issueForm.open();
  await tasks.issueForm.type.selectOption("PING");
  await expect(tasks.issueForm.host).toBeVisible();
  await expect(tasks.column("Created").first()).toHaveText(/ago$|^just now$/);
  await page.screenshot({ path: `${SCREENSHOTS}/tasks-issue-form.png`, fullPage: true });
});

test("a failed task's page", async ({ page, tasks, task }) => {
  await tasks.goto({ type: "SYNC", status: "FAILED" });
  await tasks.codeLink(0).click();
  for (const name of CARDS) await expect(task.card(name)).toBeVisible();
  await expect(task.field("Timestamps", "Created")).toHaveText(/ago$/);
  await page.screenshot({ path: `${SCREENSHOTS}/task-detail.png`, fullPage: true });
});
