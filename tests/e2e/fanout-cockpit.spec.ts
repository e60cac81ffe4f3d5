import { mkdirSync } from "node:fs";
import { SCREENSHOTS, STATE } from "./fixtures";
import { FanoutPage } from "./pages/fanout-page";
import { TasksPage } from "./pages/tasks-page";
import { expect, markWindow, test } from "./support/live-fixtures";

// The fan-out cockpit in Chromium, with real agents: failures grouped live, Retry failed
// issuing a linked fan-out of exactly the failed devices, Cancel the rest, and the list.
test.use({ storageState: STATE.admin });
test.beforeAll(() => mkdirSync(SCREENSHOTS, { recursive: true }));

test("a fan-out's failures group live; Retry failed and Cancel the rest act on exactly theirs", async ({ page, agents, issue }) => {
  const fleet = await agents.enroll(3);
  const [a, b, c] = fleet;
  const issued = await issue(fleet.map((x) => x.name));
  const code = (name: string) => issued.tasks.find((t) => t.device === name)!.code;
  const cockpit = new FanoutPage(page);
  await cockpit.goto(issued.fanout);
  await cockpit.expectLive();
  const notReloaded = await markWindow(page);
  await expect(cockpit.outcome).toHaveText("Running");

  for (const x of fleet) await x.accept(code(x.name));
  await a.result(code(a.name), "FAILED", "Alias[3] 'lan_nets' references unknown host 10.0.4.12");
  await b.result(code(b.name), "FAILED", "Alias[7] 'dmz' references unknown host 192.168.9.1");
  await c.result(code(c.name), "COMPLETED", "ok");

  // Two messages that differ only in numbers, names and addresses are one group.
  const failures = cockpit.card("Failures");
  const group = failures.getByText('Alias[#] "…" references unknown host <ip>', { exact: true });
  await expect(group).toBeVisible();
  await expect(failures.getByText("2", { exact: true })).toBeVisible();
  await expect(cockpit.outcome).toHaveText("Completed with failures");
  await expect(cockpit.card("Durations")).toContainText("Tasks that ran");
  await notReloaded();
  await group.click();
  await expect(failures.getByRole("button", { name: "Retry this group (2)" })).toBeVisible();
  await page.screenshot({ path: `${SCREENSHOTS}/fanout-cockpit.png`, fullPage: true });

  await cockpit.button(/^Retry failed \(2\)$/).click();
  const done = page.getByRole("status").filter({ hasText: /^Issued retry fan-out/ });
  await expect(done).toContainText("to 2 devices");
  const retryCode = (await done.getByRole("link").textContent())!;
  const deliveries = await Promise.all([a.nextTask(), b.nextTask()]);
  expect(deliveries.every((d) => d.type === "PING")).toBe(true);

  await done.getByRole("link").click();
  const retry = new FanoutPage(page);
  await expect(retry.heading).toHaveText(`Fan-out ${retryCode}`);
  await expect(page.getByRole("main")).toContainText(`Retry of ${issued.fanout}`);
  await expect(page.getByRole("main")).toContainText(`retry of ${issued.fanout}: FAILED`);
  // Pause holds the retry's tasks back (its agents got them already: nothing new goes); Resume lets them go.
  await retry.button(/^Pause$/).click();
  await expect(page.getByRole("status").filter({ hasText: /^Paused: nothing new/ })).toBeVisible();
  await expect(retry.outcome).toHaveText("Paused");
  await expect(page.getByRole("main")).toContainText(`Paused by admin@taskwire.local`);
  await page.screenshot({ path: `${SCREENSHOTS}/fanout-paused.png`, fullPage: true });
  await retry.button(/^Resume$/).click();
  await expect(page.getByRole("status").filter({ hasText: /^Resumed: / })).toBeVisible();
  await expect(retry.outcome).toHaveText("Running");
  page.once("dialog", (d) => void d.accept());
  await retry.button(/^Cancel the rest \(2\)$/).click();
  await expect(page.getByRole("status").filter({ hasText: /^Cancelled 2 tasks/ })).toBeVisible();
  await expect(retry.outcome).toHaveText("Cancelled");

  // The first fan-out links to its retry; the list shows both with their outcomes.
  await cockpit.goto(issued.fanout);
  await expect(page.getByRole("main")).toContainText(`Retries: ${retryCode}`);
  await page.goto("/tasks/fanouts");
  await expect(page.locator(`tr[data-fanout="${retryCode}"]`)).toContainText("Cancelled");
  await expect(page.locator(`tr[data-fanout="${issued.fanout}"]`)).toContainText("Completed with failures");
  await page.goto(`/tasks/fanouts?outcome=cancelled`);
  await expect(page.locator(`tr[data-fanout="${retryCode}"]`)).toBeVisible();
  await expect(page.locator(`tr[data-fanout="${issued.fanout}"]`)).toHaveCount(0);
  await page.screenshot({ path: `${SCREENSHOTS}/fanout-list.png`, fullPage: true });
});

test("the fan-out list is live: a fan-out issued meanwhile appears, and its outcome changes in place", async ({ page, agents, issue }) => {
  const [agent] = await agents.enroll(1);
  await page.goto("/tasks/fanouts");
  await expect(page.getByRole("heading", { level: 1, name: "Fan-outs" })).toBeVisible();
  await expect(page.locator("[data-live-state]").first()).toHaveAttribute("data-live-state", "live");
  const notReloaded = await markWindow(page);
  const issued = await issue([agent.name]);
  const row = page.locator(`tr[data-fanout="${issued.fanout}"]`);
  await expect(row).toContainText("Running");
  const code = issued.tasks[0].code;
  await agent.accept(code);
  await agent.result(code, "COMPLETED", "ok");
  await expect(row).toContainText("Completed");
  await expect(row).toContainText("1/1 finished");
  await notReloaded();
});

test("a read-only member sees the cockpit and the exports, not the actions", async ({ browser, baseURL, agents, issue }) => {
  const fleet = await agents.enroll(1);
  const issued = await issue(fleet.map((x) => x.name));
  const viewer = await (await browser.newContext({ storageState: STATE.viewer, baseURL })).newPage();
  const cockpit = new FanoutPage(viewer);
  await cockpit.goto(issued.fanout);
  await expect(cockpit.card("Actions")).toContainText("read-only");
  await expect(cockpit.button(/Retry|Cancel the rest/)).toHaveCount(0);
  await expect(cockpit.card("Actions").getByRole("link", { name: "Export CSV" })).toBeVisible();
  await viewer.context().close();
});

test("a staged rollout from the issue form: a failing canary trips the breaker, no later wave goes out; Resume finishes it", async ({ page, agents }) => {
  const fleet = await agents.enroll(3);
  await page.goto("/tasks");
  const form = new TasksPage(page).issueForm;
  await form.open();
  await form.type.selectOption("SYNC");
  await form.names.fill(fleet.map((a) => a.name).join(", "));
  await form.form.getByLabel("Rollout").selectOption("custom");
  await form.form.getByLabel("Canary").fill("1");
  await form.form.getByLabel("Then waves of").fill("rest");
  await form.form.getByLabel("Breaker: failed percentage").fill("5");
  await form.submit.click();
  await expect(form.success).toContainText("Issued 3 tasks");
  const fanout = ((await form.fanoutLink().textContent()) ?? "").replace(/^fan-out /, "");

  const cockpit = new FanoutPage(page);
  await cockpit.goto(fanout);
  await cockpit.expectLive();
  const rollout = cockpit.card("Staged rollout");
  await expect(rollout).toContainText("Wave 1 of 2");
  await expect(rollout.getByRole("list", { name: "Waves" })).toContainText("Wave 2: 2 devices · waiting");
  const notReloaded = await markWindow(page);

  // The canary is the one device that gets its task; it fails.
  await expect.poll(() => fleet.filter((a) => a.queued > 0).length, { timeout: 15_000 }).toBe(1);
  const canary = fleet.find((a) => a.queued > 0)!;
  const task = await canary.nextTask();
  task.ack({ accepted: true });
  await canary.result(task.code, "FAILED", "Disk full on /conf");
  await expect(cockpit.outcome).toHaveText("Paused");
  await expect(page.getByRole("main")).toContainText("Stopped by its breaker: 1 of 1 finished tasks failed, more than 5%");
  await notReloaded();
  await page.screenshot({ path: `${SCREENSHOTS}/rollout-breaker.png`, fullPage: true });
  const others = fleet.filter((a) => a !== canary);
  for (const a of others) await expect(a.nextTask(1_500)).rejects.toThrow(/no task delivered/);

  // The waiting tasks say their wave where a time would be, in the list and on their page.
  const tasks = new TasksPage(page);
  await tasks.goto({ fanout, status: "SCHEDULED" });
  await tasks.expectEveryRow("Scheduled", "wave 2 of 2");
  await tasks.column("Task Code").first().getByRole("link").click();
  await expect(page.getByRole("main")).toContainText("Wave 2 of 2; it goes out when its wave opens");
  await expect(page.getByRole("main")).toContainText("Its time to live counts from when its wave opens");

  // The list says why too.
  await page.goto("/tasks/fanouts");
  await expect(page.locator(`tr[data-fanout="${fanout}"]`)).toContainText("Stopped by its breaker");
  await expect(page.locator(`tr[data-fanout="${fanout}"]`)).toContainText("Wave 1 of 2");

  await cockpit.goto(fanout);
  await cockpit.button(/^Resume$/).click();
  await expect(page.getByRole("status").filter({ hasText: /^Resumed: / })).toBeVisible();
  for (const a of others) {
    const d = await a.nextTask(15_000);
    d.ack({ accepted: true });
    await a.result(d.code, "COMPLETED", "applied");
  }
  await expect(cockpit.outcome).toHaveText("Completed with failures");
  await expect(rollout).toContainText("All 2 waves opened");
  await page.screenshot({ path: `${SCREENSHOTS}/rollout-done.png`, fullPage: true });
});
