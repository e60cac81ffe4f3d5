import { expect, STATE, test } from "./fixtures";

// Each test targets devices no other test issues to, so their checks cannot see each other's tasks.
test.use({ storageState: STATE.admin });

test("issues a PING to two devices as one fan-out", async ({ page, tasks }) => {
  await tasks.goto();
  await tasks.issueForm.open();
  await tasks.issueForm.fillPing({ devices: "fw-ams-01, fw-ams-02", host: "1.1.1.1" });
  await tasks.issueForm.submit.click();

  await expect(tasks.issueForm.success).toContainText("Issued 2 tasks");
  const link = tasks.issueForm.fanoutLink();
  const fanout = ((await link.textContent()) ?? "").replace(/^fan-out /, "");
  expect(fanout).toMatch(/^[0-9A-Za-z]{8}$/);
  await link.click();

  await page.waitForURL((url) => url.searchParams.get("fanout") === fanout);
  await expect(page.getByText(`Showing fan-out ${fanout}`)).toBeVisible();
  await expect(tasks.rows).toHaveCount(2);
  await tasks.expectEveryRow("Type", "PING");
  await tasks.expectEveryRow("Status", "PENDING");
  await tasks.expectEveryRow("Scheduled", "—");
  expect((await tasks.column("Device").allTextContents()).sort()).toEqual(["fw-ams-01", "fw-ams-02"]);
});

test("a PING count over the limit shows the field's error and creates nothing", async ({ tasks }) => {
  const { form, count, success } = tasks.issueForm;
  await tasks.goto();
  await tasks.issueForm.open();
  await tasks.issueForm.fillPing({ devices: "fw-nyc-41", host: "1.1.1.1", count: "5000" });
  await tasks.issueForm.submit.click();

  // The browser stops the form at the field and says why, beside it.
  await expect(count).toBeFocused();
  await expect.poll(() => count.evaluate((el: HTMLInputElement) => el.validationMessage)).toBe("Value must be less than or equal to 1000.");
  await expect(success).toHaveCount(0);

  // Past the browser's check (a browser without it), the server's own answer shows under the field.
  await form.evaluate((el: HTMLFormElement) => (el.noValidate = true));
  await tasks.issueForm.submit.click();
  await expect(form.getByText("Count is at most 1000", { exact: true })).toBeVisible();
  await expect(count).toHaveAttribute("aria-invalid", "true");
  await expect(success).toHaveCount(0);

  await tasks.goto({ device: "fw-nyc-41", type: "PING", status: "PENDING" });
  await expect(tasks.emptyState()).toBeVisible();
});

test("an unknown device name is listed in the error and nothing is created", async ({ tasks }) => {
  await tasks.goto();
  await tasks.issueForm.open();
  await tasks.issueForm.fillPing({ devices: "fw-sgp-07, nope-1", host: "1.1.1.1" });
  await tasks.issueForm.submit.click();

  await expect(tasks.issueForm.error).toContainText("nope-1 (no such device)");
  await expect(tasks.issueForm.error).not.toContainText("fw-sgp-07");
  await expect(tasks.issueForm.names).toHaveAttribute("aria-invalid", "true");
  await expect(tasks.issueForm.success).toHaveCount(0);

  await tasks.goto({ device: "fw-sgp-07", type: "PING", status: "PENDING" });
  await expect(tasks.emptyState()).toBeVisible();
});

test("scheduling At a future time creates SCHEDULED tasks", async ({ page, tasks, task }) => {
  await tasks.goto();
  await tasks.issueForm.open();
  await tasks.issueForm.type.selectOption("PULL");
  await tasks.issueForm.names.fill("fw-dc-21 fw-dc-22");
  await tasks.issueForm.at.check();
  await expect(tasks.issueForm.runAt).toBeEnabled();
  // Three hours from now, in the browser's own time zone, as the picker takes it.
  const inThreeHours = await page.evaluate(() => {
    const d = new Date(Date.now() + 3 * 3_600_000);
    const p = (n: number) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  });
  await tasks.issueForm.runAt.fill(inThreeHours);
  await tasks.issueForm.submit.click();

  await expect(tasks.issueForm.success).toContainText("Issued 2 tasks");
  await tasks.issueForm.fanoutLink().click();
  await page.waitForURL(/fanout=/);
  await expect(tasks.rows).toHaveCount(2);
  await tasks.expectEveryRow("Type", "PULL");
  await tasks.expectEveryRow("Status", "SCHEDULED");
  await tasks.expectEveryRow("Scheduled", /^in 3 hours$/);

  await tasks.codeLink(0).click();
  await expect(task.statusBadge).toHaveText("SCHEDULED");
  await expect(task.field("Timestamps", "Scheduled")).toHaveText("in 3 hours");
  await expect(task.cancel).toBeVisible();
});
