// Schedules as an admin makes and reads them: the form shows the next five runs before
// anything is saved, refuses what does not parse, and the schedule's page lists its runs.
import { expect, STATE, test } from "./fixtures";
import { expectAccessible, PHONE } from "./support/page-checks";

test.describe("as an admin", () => {
  test.use({ storageState: STATE.admin });

  test("the demo's nightly backup lists its runs, each a fan-out, and one missed while the server was down", async ({ page }) => {
    await page.goto("/tasks/schedules");
    const row = page.locator('[data-schedule="Nightly backup"]');
    await expect(row).toContainText("Nightly at 02:00 (Europe/Berlin)");
    await expect(row).toContainText("BACKUP");
    await row.getByRole("link", { name: "Nightly backup" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Nightly backup" })).toBeVisible();
    await expect(page.locator('[data-run-outcome="issued"]').first()).toBeVisible();
    expect(await page.locator('[data-run-outcome="issued"]').count()).toBeGreaterThanOrEqual(14);
    await expect(page.locator('[data-run-outcome="skipped"]')).toContainText("Missed while the server was down");
    await expect(page.getByRole("region", { name: "When" }).locator("ol li")).toHaveCount(5);
    await expectAccessible(page, "schedule page");
    // A run's fan-out is one click away.
    await page.locator('[data-run-outcome="issued"]').first().getByRole("link").click();
    await expect(page.getByRole("heading", { level: 1, name: /^Fan-out / })).toBeVisible();
    // And the fan-out says which schedule issued it.
    await expect(page.locator("header").getByText(/by the schedule/)).toBeVisible();
    await page.locator("header").getByRole("link", { name: "Nightly backup" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Nightly backup" })).toBeVisible();
  });

  test("the form previews the next five runs as it is typed, refuses a bad expression naming it, and saves", async ({ page }) => {
    await page.goto("/tasks/schedules");
    await page.locator("summary", { hasText: "New schedule" }).click();
    const form = page.getByRole("form", { name: "New schedule" });
    await form.getByLabel("Name", { exact: true }).fill("Hourly ping of the lab");
    await form.getByLabel("Type", { exact: true }).selectOption("PING");
    await form.getByLabel("Host").fill("192.0.2.10");
    await form.getByLabel("Recurrence").selectOption({ label: "Every hour, on the hour" });
    const preview = form.getByRole("region", { name: /^Next 5 runs/ });
    await expect(preview.locator("li")).toHaveCount(5);
    await form.getByLabel("Time zone").fill("UTC");
    // A bad expression: the preview says why; the server names the field.
    await form.getByLabel("Cron expression").fill("0 25 * * *");
    await expect(preview).toContainText("Not a cron expression");
    await form.getByLabel("Whole organization").check();
    await form.getByRole("button", { name: "Save schedule" }).click();
    await expect(form.locator("#cron-error")).toContainText(/hour/i);
    await expectAccessible(page, "schedule form with an error");

    await form.getByLabel("Cron expression").fill("15 * * * *");
    await expect(preview.locator("li")).toHaveCount(5);
    await form.getByRole("button", { name: "Save schedule" }).click();
    await expect(form.getByRole("status")).toContainText("Saved");
    await form.getByRole("link", { name: /open Hourly ping of the lab/ }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Hourly ping of the lab" })).toBeVisible();
    await expect(page.locator("code", { hasText: "15 * * * *" })).toBeVisible();
    await page.setViewportSize(PHONE);
    await expectAccessible(page, "schedule page (phone)");

    // Paused, it has no next runs.
    await page.getByRole("button", { name: "Pause" }).click();
    await expect(page.getByText("None while paused")).toBeVisible();

    // Changed: the form shows what is saved; the change is saved, and it stays paused.
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.getByRole("link", { name: "Change" }).click();
    const edit = page.getByRole("form", { name: "Change Hourly ping of the lab" });
    await expect(edit.getByLabel("Name", { exact: true })).toHaveValue("Hourly ping of the lab");
    await expect(edit.getByLabel("Type", { exact: true })).toHaveValue("PING");
    await expect(edit.getByLabel("Host")).toHaveValue("192.0.2.10");
    await expect(edit.getByLabel("Whole organization")).toBeChecked();
    await expect(edit.getByLabel("Cron expression")).toHaveValue("15 * * * *");
    await expect(edit.getByLabel("Time zone")).toHaveValue("UTC");
    await expect(edit.getByRole("region", { name: /^Next 5 runs/ }).locator("li")).toHaveCount(5);
    await expectAccessible(page, "schedule change form");
    await edit.getByLabel("Host").fill("192.0.2.20");
    await edit.getByLabel("Cron expression").fill("45 */2 * * *");
    await edit.getByRole("button", { name: "Save changes" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Hourly ping of the lab" })).toBeVisible();
    await expect(page.locator("code", { hasText: "45 */2 * * *" })).toBeVisible();
    await expect(page.locator("code", { hasText: "192.0.2.20" })).toBeVisible();
    await expect(page.getByText("Paused", { exact: true })).toBeVisible();
    await expect(page.getByText("None while paused")).toBeVisible();

    // Deleted, it is gone from the list.
    page.once("dialog", (d) => void d.accept());
    await page.getByRole("button", { name: "Delete" }).click();
    await expect(page).toHaveURL(/\/tasks\/schedules$/);
    await expect(page.locator('[data-schedule="Hourly ping of the lab"]')).toHaveCount(0);
  });
});

test.describe("as a read-only member", () => {
  test.use({ storageState: STATE.viewer });

  test("sees the schedules, and nothing to change them with", async ({ page }) => {
    await page.goto("/tasks/schedules");
    await expect(page.locator('[data-schedule="Nightly backup"]')).toBeVisible();
    await expect(page.locator("summary", { hasText: "New schedule" })).toHaveCount(0);
    await page.getByRole("link", { name: "Nightly backup" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Nightly backup" })).toBeVisible();
    await expect(page.getByRole("button", { name: "Pause" })).toHaveCount(0);
    await expect(page.getByRole("button", { name: "Delete" })).toHaveCount(0);
    await expect(page.getByRole("link", { name: "Change" })).toHaveCount(0);
    await page.goto(`${page.url()}/edit`);
    await expect(page.getByText("Your role is read-only: you see schedules but cannot change them.")).toBeVisible();
    await expect(page.getByRole("form")).toHaveCount(0);
    const res = await page.request.post("/api/v1/schedules", { data: { name: "x", type: "SYNC", targets: { all: true }, cron: "0 * * * *", timezone: "UTC" } });
    expect(res.status()).toBe(403);
  });
});
