import { mkdirSync } from "node:fs";
import { SCREENSHOTS, STATE } from "./fixtures";
import { FanoutPage } from "./pages/fanout-page";
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
