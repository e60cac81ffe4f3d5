import { mkdirSync } from "node:fs";
import type { Page, WebSocketRoute } from "@playwright/test";
import { SCREENSHOTS, STATE } from "./fixtures";
import { FanoutPage } from "./pages/fanout-page";
import { TasksPage } from "./pages/tasks-page";
import { expect, markWindow, test } from "./support/live-fixtures";

// The live console in Chromium: the task list, a task's page and a fan-out's page follow
// what the API and real agent connections do, without a reload; Auto-refresh OFF freezes
// the list and ON catches up. Each test enrolls agent devices of its own.
test.use({ storageState: STATE.admin });

test.describe("the task list, live", () => {
  test("new tasks appear at the top and agents' results change their badges, without a reload", async ({ page, tasks, agents, issue }) => {
    const [agent] = await agents.enroll();
    await tasks.goto();
    await expect(tasks.autoRefresh).toBeChecked();
    await tasks.expectLive();
    const notReloaded = await markWindow(page);

    const first = (await issue([agent.name])).tasks[0].code;
    await expect(tasks.codeLink(0)).toHaveText(first);
    await expect(tasks.statusOf(first)).toHaveText("PENDING");
    const second = (await issue([agent.name], "SYNC")).tasks[0].code;
    await expect(tasks.codeLink(0)).toHaveText(second);
    await expect(tasks.codeLink(1)).toHaveText(first);
    await expect(tasks.rows).toHaveCount(30);

    await agent.accept(first);
    await expect(tasks.statusOf(first)).toHaveText("IN_PROGRESS");
    await agent.result(first, "COMPLETED", "4 packets transmitted, 4 received");
    await expect(tasks.statusOf(first)).toHaveText("COMPLETED");

    await agent.accept(second);
    await expect(tasks.statusOf(second)).toHaveText("IN_PROGRESS");
    await agent.result(second, "FAILED", "configd: template generation failed");
    await expect(tasks.statusOf(second)).toHaveText("FAILED");

    await expect(tasks.codeLink(0)).toHaveText(second);
    await tasks.expectLive();
    await notReloaded();
  });

  test("a device filter typed with spaces around it follows the list the server read: its new tasks come in live", async ({ page, tasks, agents, issue }) => {
    const [agent] = await agents.enroll();
    const before = (await issue([agent.name])).tasks[0].code;
    await tasks.goto({ device: `  ${agent.name} ` });
    await expect(tasks.codeLink(0)).toHaveText(before);
    await tasks.expectLive();
    const notReloaded = await markWindow(page);

    const next = (await issue([agent.name], "SYNC")).tasks[0].code;
    await expect(tasks.codeLink(0)).toHaveText(next);
    await agent.accept(before);
    await expect(tasks.statusOf(before)).toHaveText("IN_PROGRESS");
    await expect(tasks.rows).toHaveCount(2);
    await expect(tasks.deviceFilter).toHaveValue(agent.name);
    await notReloaded();
  });

  test("Auto-refresh OFF freezes the list; turning it ON catches up", async ({ browser, baseURL, page, tasks, agents, issue }) => {
    const [agent] = await agents.enroll();
    // A second window, left live, is the witness that the change was sent.
    const witness = new TasksPage(await (await browser.newContext({ storageState: STATE.admin, baseURL })).newPage());
    await witness.goto();
    await witness.expectLive();

    await tasks.goto();
    await tasks.expectLive();
    const notReloaded = await markWindow(page);
    await tasks.setAutoRefresh(false);
    const top = await tasks.codeAt(0);

    const code = (await issue([agent.name])).tasks[0].code;
    await agent.accept(code);
    await expect(witness.statusOf(code)).toHaveText("IN_PROGRESS");
    await expect(tasks.row(code)).toHaveCount(0);
    await expect(tasks.codeLink(0)).toHaveText(top);
    await expect(tasks.liveIndicator).toHaveText("Paused");

    await tasks.setAutoRefresh(true);
    await expect(tasks.codeLink(0)).toHaveText(code);
    await expect(tasks.statusOf(code)).toHaveText("IN_PROGRESS");
    // And it is live again.
    await agent.result(code, "COMPLETED");
    await expect(tasks.statusOf(code)).toHaveText("COMPLETED");
    await notReloaded();
    await witness.page.context().close();
  });

  test("a list opened while Auto-refresh is OFF catches up when it is turned ON", async ({ browser, baseURL, page, tasks, agents, issue }) => {
    const [agent] = await agents.enroll();
    const witness = new TasksPage(await (await browser.newContext({ storageState: STATE.admin, baseURL })).newPage());
    await witness.goto();
    await witness.expectLive();

    await tasks.goto();
    await tasks.setAutoRefresh(false);
    // The choice is remembered in this browser: the next visit opens frozen.
    await page.reload();
    await expect(tasks.autoRefresh).not.toBeChecked();
    await expect(tasks.liveIndicator).toHaveAttribute("data-live-state", "paused");
    const notReloaded = await markWindow(page);
    const top = await tasks.codeAt(0);

    const code = (await issue([agent.name])).tasks[0].code;
    await expect(witness.row(code)).toBeVisible();
    await expect(tasks.codeLink(0)).toHaveText(top);

    await tasks.setAutoRefresh(true);
    await expect(tasks.codeLink(0)).toHaveText(code);
    await notReloaded();
    await witness.page.context().close();
  });
});

test.describe("a task's page, live", () => {
  test("a running task turns COMPLETED on its own", async ({ page, task, agents, issue }) => {
    const [agent] = await agents.enroll();
    const code = (await issue([agent.name])).tasks[0].code;
    await agent.accept(code);
    await task.goto(code);
    await task.expectTask(code);
    await expect(task.statusBadge).toHaveText("IN_PROGRESS");
    await task.expectLive();
    const notReloaded = await markWindow(page);

    await agent.result(code, "COMPLETED", "PING 1.1.1.1: 1 packets transmitted, 1 packets received");
    await expect(task.statusBadge).toHaveText("COMPLETED");
    await expect(task.card("Message")).toContainText("1 packets received");
    await expect(task.field("Task Information", "Status")).toHaveText("COMPLETED");
    // Final: nothing more can change, so the page stops listening.
    await expect(task.finishedNote).toBeVisible();
    await expect(task.liveIndicator).toHaveCount(0);
    await notReloaded();
  });

  test("an agent's accept shows IN_PROGRESS and its start from the patch alone, with no server render", async ({ page, task, agents, issue }) => {
    const [agent] = await agents.enroll();
    const code = (await issue([agent.name])).tasks[0].code;
    await task.goto(code);
    await expect(task.statusBadge).toHaveText("PENDING");
    await task.expectLive();
    const renders = countServerRenders(page);

    await agent.accept(code);
    await expect(task.statusBadge).toHaveText("IN_PROGRESS");
    await expect(task.field("Task Information", "Status")).toHaveText("IN_PROGRESS");
    await expect(task.field("Timestamps", "Started")).not.toHaveText("Not yet");
    await expect(task.field("Timestamps", "Expires")).toContainText("Fails if no result within");
    await page.waitForTimeout(1500);
    expect(renders()).toEqual({ refreshes: 0, actions: 0 });
  });

  test("a Cancel renders the page on the server once: the action's own answer", async ({ page, task, agents, issue }) => {
    const [agent] = await agents.enroll();
    const code = (await issue([agent.name])).tasks[0].code;
    await task.goto(code);
    await task.expectLive();
    const renders = countServerRenders(page);

    await task.cancelTask();
    await expect(task.statusBadge).toHaveText("CANCELLED");
    await expect(task.finishedNote).toBeVisible();
    // Past the live patch of the cancel and the wait before a final patch's own refresh.
    await page.waitForTimeout(2000);
    expect(renders()).toEqual({ refreshes: 0, actions: 1 });
  });
});

/** Server renders from now on: router refreshes (RSC fetches, not prefetches) and server actions. */
function countServerRenders(page: Page): () => { refreshes: number; actions: number } {
  const counts = { refreshes: 0, actions: 0 };
  page.on("request", (r) => {
    const h = r.headers();
    if (h["next-action"]) counts.actions++;
    else if ((h["rsc"] === "1" || r.url().includes("_rsc=")) && !h["next-router-prefetch"]) counts.refreshes++;
  });
  return () => ({ ...counts });
}

test.describe("a fan-out's progress, live", () => {
  test.beforeAll(() => mkdirSync(SCREENSHOTS, { recursive: true }));

  test("the progress bar reaches 100% as agents report, on the list and on the fan-out's page", async ({ page, tasks, agents, issue }) => {
    const fleet = await agents.enroll(4);
    await tasks.goto();
    await tasks.expectLive();
    const notReloaded = await markWindow(page);

    const issued = await issue(fleet.map((a) => a.name));
    expect(issued.total).toBe(4);
    const code = (name: string) => issued.tasks.find((t) => t.device === name)!.code;
    const bar = tasks.fanoutProgress(issued.fanout);
    await expect(bar).toHaveAttribute("aria-valuenow", "0");
    await expect(tasks.activeFanouts).toContainText(`${issued.fanout} PING to 4 devices`);

    // Halfway: one completed, one failed, two still running.
    for (const a of fleet) await a.accept(code(a.name));
    await fleet[0].result(code(fleet[0].name), "COMPLETED");
    await fleet[1].result(code(fleet[1].name), "FAILED", "ping: cannot resolve 1.1.1.1");
    await expect(bar).toHaveAttribute("aria-valuenow", "50");
    await expect(tasks.activeFanouts).toContainText("2/4 finished · 50%");
    // Relative times settled, so the picture shows what a person sees.
    await expect(tasks.column("Created").first()).toHaveText(/ago$|^just now$/);
    await page.screenshot({ path: `${SCREENSHOTS}/live-fanout-list.png`, fullPage: true });

    // The fan-out's own page, in a second tab of the same browser.
    const fanout = new FanoutPage(await page.context().newPage());
    await fanout.goto(issued.fanout);
    await fanout.expectLive();
    await expect(fanout.progress).toHaveAttribute("aria-valuenow", "50");
    await fleet[2].result(code(fleet[2].name), "COMPLETED");
    await expect(fanout.progress).toHaveAttribute("aria-valuenow", "75");
    await expect(bar).toHaveAttribute("aria-valuenow", "75");
    await expect(fanout.page.getByRole("main")).toContainText("3/4 finished · 75%");
    // Every count on the page is the live one: no server-rendered copy left behind.
    await expect(fanout.page.getByRole("main").getByRole("link", { name: /COMPLETED|IN_PROGRESS/ })).toHaveText(["IN_PROGRESS 1", "COMPLETED 2"]);
    await fanout.page.screenshot({ path: `${SCREENSHOTS}/live-fanout-page.png`, fullPage: true });

    await fleet[3].result(code(fleet[3].name), "COMPLETED");
    await expect(fanout.progress).toHaveAttribute("aria-valuenow", "100");
    await expect(fanout.page.getByRole("main")).toContainText("4/4 finished · 100%");
    await expect(fanout.finishedNote).toBeVisible();
    await expect(bar).toHaveAttribute("aria-valuenow", "100");
    await expect(tasks.activeFanouts).toContainText("4/4 finished · 100%");
    await notReloaded();
  });
});

test.describe("a change between a page's read and its first watch", () => {
  /**
   * Holds the page's live connection until `open()`: the page is read, then a change is made
   * and its patch leaves while the page is still connecting, as on a slow network.
   */
  async function holdLive(page: Page): Promise<{ open: () => void }> {
    let held: WebSocketRoute[] | null = [];
    await page.routeWebSocket(/\/socket\.io\//, (ws) => {
      if (held) held.push(ws);
      else ws.connectToServer();
    });
    return {
      open: () => {
        for (const ws of held ?? []) ws.connectToServer();
        held = null;
      },
    };
  }

  test("is read in once the live channel connects: the fan-out list and a fan-out's page", async ({ page, agents, issue }) => {
    const [agent] = await agents.enroll(1);
    const issued = await issue([agent.name]);
    const code = issued.tasks[0].code;
    const list = await holdLive(page);
    await page.goto("/tasks/fanouts");
    const row = page.locator(`tr[data-fanout="${issued.fanout}"]`);
    await expect(row).toContainText("Running");
    const fanout = new FanoutPage(await page.context().newPage());
    const cockpit = await holdLive(fanout.page);
    await fanout.goto(issued.fanout);
    await expect(fanout.progress).toHaveAttribute("aria-valuenow", "0");
    const notReloaded = [await markWindow(page), await markWindow(fanout.page)];

    await agent.accept(code);
    await agent.result(code, "COMPLETED", "ok");
    list.open();
    cockpit.open();
    await expect(row).toContainText("Completed");
    await expect(row).toContainText("1/1 finished");
    await expect(fanout.progress).toHaveAttribute("aria-valuenow", "100");
    for (const check of notReloaded) await check();
  });
});
