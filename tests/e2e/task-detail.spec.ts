import { expect, STATE, test } from "./fixtures";
import { CARDS, NotFoundPage } from "./pages/task-detail-page";
import { TasksPage } from "./pages/tasks-page";

test.describe("as the admin", () => {
  test.use({ storageState: STATE.admin });

  test("opens a task from the list by its code", async ({ page, tasks, task }) => {
    await tasks.goto({ type: "REBOOT", status: "COMPLETED" });
    const code = await tasks.codeAt(0);
    const device = (await tasks.column("Device").first().textContent()) ?? "";
    await tasks.codeLink(0).click();
    await expect(page).toHaveURL(new RegExp(`/tasks/${code}$`));
    await task.expectTask(code);
    await expect(task.statusBadge).toHaveText("COMPLETED");
    for (const name of CARDS) await expect(task.card(name)).toBeVisible();
    await expect(task.field("Task Information", "Type")).toHaveText("REBOOT");
    await expect(task.field("Task Information", "Device")).toHaveText(device);
    await expect(task.field("Task Information", "Organization")).toHaveText("Acme Corp");
    await expect(task.field("Timestamps", "Scheduled")).toHaveText("Immediate");
    await expect(task.card("Message")).toContainText("Device back online after reboot");
    await expect(task.rerun).toBeVisible();
    await expect(task.cancel).toHaveCount(0);
  });

  test("cancels a PENDING task", async ({ tasks, task }) => {
    await tasks.goto({ type: "SYNC", status: "PENDING" });
    const code = await tasks.codeAt(0);
    await tasks.codeLink(0).click();
    await task.expectTask(code);
    await expect(task.statusBadge).toHaveText("PENDING");
    await expect(task.card("Message")).toContainText("No message yet");

    const question = await task.cancelTask();
    expect(question).toContain(code);
    await expect(task.statusBadge).toHaveText("CANCELLED");
    await expect(task.card("Message")).toContainText("Cancelled by admin@taskwire.local");
    await expect(task.cancel).toHaveCount(0);
    await expect(task.rerun).toBeVisible();
  });

  test("re-runs a FAILED task as a new, linked task", async ({ page, tasks, task }) => {
    await tasks.goto({ type: "BACKUP", status: "FAILED" });
    const original = await tasks.codeAt(0);
    await task.goto(original);
    await task.expectTask(original);
    await expect(task.statusBadge).toHaveText("FAILED");
    await expect(task.field("Task Information", "Re-runs")).toHaveText("—");

    await task.rerun.click();
    await page.waitForURL((url) => url.pathname.startsWith("/tasks/") && !url.pathname.endsWith(`/${original}`));
    const rerun = new URL(page.url()).pathname.split("/").pop()!;
    await task.expectTask(rerun);
    await expect(task.statusBadge).toHaveText("PENDING");
    await expect(task.field("Task Information", "Type")).toHaveText("BACKUP");

    const back = task.field("Task Information", "Re-run of").getByRole("link", { name: original });
    await expect(back).toBeVisible();
    await back.click();
    await task.expectTask(original);
    await expect(task.field("Task Information", "Re-runs").getByRole("link", { name: rerun })).toBeVisible();
    await expect(task.field("Task Information", "Re-runs")).toContainText("PENDING");
  });

  test("Refresh re-fetches the task without reloading the page", async ({ page, tasks, task }) => {
    await tasks.goto({ type: "PUSH", status: "COMPLETED" });
    const code = await tasks.codeAt(0);
    await task.goto(code);
    await task.expectTask(code);
    // A full reload would wipe this; an in-place refresh keeps it.
    await page.evaluate(() => Object.assign(window, { __e2eMarker: "still here" }));
    await task.refresh.click();
    await expect(task.card("Actions").getByText(/^Refreshed at /)).toBeVisible();
    await expect(task.refresh).toBeEnabled();
    await task.expectTask(code);
    await expect(page).toHaveURL(new RegExp(`/tasks/${code}$`));
    expect(await page.evaluate(() => (window as { __e2eMarker?: string }).__e2eMarker)).toBe("still here");
  });

  test("a garbage code, an unknown code and another organization's task are not found", async ({ browser, page, task }) => {
    const notFound = new NotFoundPage(page);
    for (const code of ["not-a-task!", "ZZZZ0000"]) {
      const response = await task.goto(code);
      expect(response?.status(), code).toBe(404);
      await expect(notFound.message).toBeVisible();
    }

    // A real Globex task, seen from a session in Globex…
    const globex = await browser.newContext({ storageState: STATE.adminGlobex });
    try {
      const list = new TasksPage(await globex.newPage());
      await list.goto();
      await list.expectEveryRow("Organization", "Globex");
      const code = await list.codeAt(0);
      // …is not there for the same admin while Acme Corp is active.
      const response = await task.goto(code);
      expect(response?.status()).toBe(404);
      await expect(notFound.message).toBeVisible();
      await expect(page.getByText(code)).toHaveCount(0);
    } finally {
      await globex.close();
    }
  });
});

test.describe("as a read-only viewer", () => {
  test.use({ storageState: STATE.viewer });

  test("sees no Issue task form", async ({ tasks }) => {
    await tasks.goto();
    await expect(tasks.rows.first()).toBeVisible();
    await expect(tasks.issueForm.disclosure).toHaveCount(0);
    await expect(tasks.issueForm.form).toHaveCount(0);
    await expect(tasks.page.getByRole("button", { name: "Issue task" })).toHaveCount(0);
  });

  test("sees no Cancel on an open task and no Re-run on a finished one", async ({ tasks, task }) => {
    await tasks.goto({ status: "SCHEDULED" });
    await tasks.codeLink(0).click();
    await expect(task.statusBadge).toHaveText("SCHEDULED");
    await expect(task.refresh).toBeVisible();
    await expect(task.cancel).toHaveCount(0);
    await expect(task.rerun).toHaveCount(0);
    await expect(task.card("Actions")).toContainText("Your role is read-only");

    await tasks.goto({ status: "FAILED" });
    await tasks.codeLink(0).click();
    await expect(task.statusBadge).toHaveText("FAILED");
    await expect(task.refresh).toBeVisible();
    await expect(task.cancel).toHaveCount(0);
    await expect(task.rerun).toHaveCount(0);
  });
});
