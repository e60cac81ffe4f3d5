import { expect, STATE, test } from "./fixtures";
import { TASK_COLUMNS } from "./pages/tasks-page";

test.describe("as the admin of Acme Corp", () => {
  test.use({ storageState: STATE.admin });

  test("shows the columns in order", async ({ tasks }) => {
    await tasks.goto();
    await expect(tasks.table.getByRole("columnheader")).toHaveText([...TASK_COLUMNS]);
    await expect(tasks.rows).toHaveCount(30);
  });

  test("lists the newest first, across pages", async ({ tasks }) => {
    // The finished history, not the unfiltered list: lib/demo/seed.ts inserts its few open tasks
    // after the history with creation times up to 50 minutes back, so on the first
    // unfiltered page their Created times are out of order (the list orders by id).
    await tasks.goto({ status: "COMPLETED" });
    await expect(tasks.rows).toHaveCount(30);
    const first = await tasks.createdTimes();
    expect(first).toEqual([...first].sort((a, b) => b - a));
    await tasks.next.click();
    await tasks.page.waitForURL(/before=/);
    const second = await tasks.createdTimes();
    expect(second).toEqual([...second].sort((a, b) => b - a));
    expect(second[0]).toBeLessThanOrEqual(first[first.length - 1]);
  });

  test("filters by a device-name substring", async ({ tasks }) => {
    await tasks.goto();
    await tasks.filter({ device: "fw-ams-0" });
    expect(tasks.searchParams().get("device")).toBe("fw-ams-0");
    await expect(tasks.deviceFilter).toHaveValue("fw-ams-0");
    await tasks.expectEveryRow("Device", /^fw-ams-0\d$/);
  });

  test("filters by type", async ({ tasks }) => {
    await tasks.goto();
    await tasks.filter({ type: "PING" });
    expect(tasks.searchParams().get("type")).toBe("PING");
    await expect(tasks.typeFilter).toHaveValue("PING");
    await tasks.expectEveryRow("Type", "PING");
  });

  test("filters by status", async ({ tasks }) => {
    await tasks.goto();
    await tasks.filter({ status: "FAILED" });
    expect(tasks.searchParams().get("status")).toBe("FAILED");
    await expect(tasks.statusFilter).toHaveValue("FAILED");
    await tasks.expectEveryRow("Status", "FAILED");
  });

  test("combines the filters", async ({ tasks }) => {
    await tasks.goto();
    await tasks.filter({ device: "fw-nyc-1", type: "SYNC", status: "COMPLETED" });
    const params = tasks.searchParams();
    expect([params.get("device"), params.get("type"), params.get("status")]).toEqual(["fw-nyc-1", "SYNC", "COMPLETED"]);
    await tasks.expectEveryRow("Device", /^fw-nyc-1\d$/);
    await tasks.expectEveryRow("Type", "SYNC");
    await tasks.expectEveryRow("Status", "COMPLETED");
  });

  test("keeps the filters over a reload", async ({ page, tasks }) => {
    await tasks.goto();
    await tasks.filter({ device: "fw-dc-", type: "BACKUP", status: "COMPLETED" });
    const url = page.url();
    await page.reload();
    expect(page.url()).toBe(url);
    await expect(tasks.deviceFilter).toHaveValue("fw-dc-");
    await expect(tasks.typeFilter).toHaveValue("BACKUP");
    await expect(tasks.statusFilter).toHaveValue("COMPLETED");
    await tasks.expectEveryRow("Device", /^fw-dc-\d\d$/);
    await tasks.expectEveryRow("Type", "BACKUP");
    await tasks.expectEveryRow("Status", "COMPLETED");
  });

  test("Next then Previous returns to the same first row", async ({ page, tasks }) => {
    await tasks.goto();
    await expect(tasks.previous).toHaveCount(0);
    const first = await tasks.codeAt(0);
    await tasks.next.click();
    await page.waitForURL(/before=/);
    await expect(tasks.rows).toHaveCount(30);
    await expect(tasks.codeLink(0)).not.toHaveText(first);
    await expect(tasks.row(first)).toHaveCount(0);
    await tasks.previous.click();
    await page.waitForURL(/after=/);
    await expect(tasks.codeLink(0)).toHaveText(first);
    await expect(tasks.rows).toHaveCount(30);
    await expect(tasks.previous).toHaveCount(0);
  });

  test("shows the empty state when nothing matches", async ({ tasks }) => {
    await tasks.goto();
    await tasks.filter({ device: "zz-no-such-device" });
    await expect(tasks.emptyState()).toBeVisible();
    await expect(tasks.rows).toHaveCount(0);
    await expect(tasks.page.getByRole("link", { name: "Clear the filters" })).toHaveAttribute("href", "/tasks");
  });

  test("an unknown status in the URL shows an error, not a crash", async ({ page, tasks }) => {
    const response = await page.goto("/tasks?status=DONE");
    expect(response?.status()).toBe(200);
    await expect(tasks.heading).toBeVisible();
    // Scoped to the page's content: Next's route announcer is an (empty) alert too.
    await expect(page.getByRole("main").getByRole("alert")).toContainText("status: Unknown status; expected one of SCHEDULED");
    await expect(tasks.rows).toHaveCount(0);
    await expect(tasks.filterBar).toBeVisible();
  });

  test("every row belongs to the active organization", async ({ tasks }) => {
    await tasks.goto();
    await tasks.expectEveryRow("Organization", "Acme Corp");
    await tasks.next.click();
    await tasks.page.waitForURL(/before=/);
    await tasks.expectEveryRow("Organization", "Acme Corp");
  });
});

test.describe("switching organizations", () => {
  // A session of its own: the active organization is kept on the server's session.
  test.use({ storageState: STATE.adminSwitcher });

  test("shows only the other organization's tasks, and back", async ({ tasks }) => {
    await tasks.goto({ status: "COMPLETED" });
    await expect(tasks.orgSwitcher).toHaveValue(await optionValue(tasks.orgSwitcher, "Acme Corp"));
    await tasks.switchOrganization("Globex");
    await tasks.expectEveryRow("Organization", "Globex");
    await tasks.expectEveryRow("Device", /^gx-/);
    // Switching lands on the unfiltered list of the new organization.
    await expect(tasks.statusFilter).toHaveValue("");

    await tasks.switchOrganization("Acme Corp");
    await tasks.expectEveryRow("Organization", "Acme Corp");
    await tasks.expectEveryRow("Device", /^fw-/);
  });
});

async function optionValue(select: import("@playwright/test").Locator, org: string) {
  return (await select.getByRole("option", { name: new RegExp(`^${org} \\(`) }).getAttribute("value")) ?? "";
}
