// What the CSP, accessibility and phone-width specs check on a page, and the pages they
// check it on: every page of the console, in the states an admin meets them.
import AxeBuilder from "@axe-core/playwright";
import { expect, type Page } from "@playwright/test";

/** WCAG 2.1 AA: the rules axe-core files under these tags. */
export const WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/** Screenshots for a person to look at: Playwright's output folder, outside the repository's sources. */
export const VIEWS = "test-results/views";

export const PHONE = { width: 390, height: 844 } as const;

type Violation = { directive: string; blocked: string; sample: string; source: string };

/**
 * Records every CSP violation the page reports, from the first byte of each document on:
 * the browser's `securitypolicyviolation` events and its "Refused to…" console errors.
 */
export async function watchCsp(page: Page): Promise<{ violations: () => Promise<string[]> }> {
  const console: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) console.push(m.text());
  });
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: Violation[] };
    w.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      w.__csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: `${e.sourceFile}:${e.lineNumber}:${e.columnNumber}` }),
    );
  });
  return {
    violations: async () => {
      const events = await page.evaluate(() => (window as unknown as { __csp?: Violation[] }).__csp ?? []);
      return [...events.map((v) => `${v.directive} blocked ${v.blocked || "inline"} ${v.sample} at ${v.source}`), ...console];
    },
  };
}

/** No WCAG 2.1 A or AA rule fails anywhere on the page, whatever its impact. */
export async function expectAccessible(page: Page, what: string) {
  const { violations } = await new AxeBuilder({ page }).withTags(WCAG_21_AA).analyze();
  const found = violations.map((v) => `${v.impact ?? "?"} ${v.id}: ${v.help}\n${v.nodes.map((n) => `    ${n.target.join(" ")} — ${n.failureSummary?.split("\n").slice(1).join(" ").trim()}`).join("\n")}`);
  expect(found, `${what}: axe-core found\n${found.join("\n")}`).toEqual([]);
}

/** The page is no wider than the screen: only regions meant to scroll (tables) scroll. */
export async function expectNoSidewaysScroll(page: Page, what: string) {
  const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: document.documentElement.clientWidth }));
  expect(widths.page, `${what} scrolls sideways`).toBeLessThanOrEqual(widths.screen);
}

/** A task's code in the signed-in user's organization, by status (the demo has each but IN_PROGRESS). */
export async function taskWithStatus(page: Page, status: string): Promise<{ code: string; fanout: string | null }> {
  const res = await page.request.get(`/api/v1/tasks?status=${status}&per_page=1`);
  expect(res.ok(), `GET /api/v1/tasks?status=${status}`).toBe(true);
  const [item] = ((await res.json()) as { items: { code: string; fanout: string | null }[] }).items;
  if (!item) throw new Error(`no ${status} task in the demo data`);
  return item;
}

/** The demo's largest fan-out that ended with failures, read through the API. */
export async function largeFanoutWithFailures(page: Page): Promise<string> {
  const res = await page.request.get("/api/v1/fanouts?outcome=completed_with_failures&per_page=100");
  expect(res.ok(), "GET /api/v1/fanouts").toBe(true);
  const items = ((await res.json()) as { items: { code: string; total: number; counts: Record<string, number> }[] }).items;
  const big = items.filter((f) => f.counts.FAILED > 0).sort((a, b) => b.total - a.total)[0];
  if (!big) throw new Error("no fan-out with failures in the demo data");
  return big.code;
}

export type ConsoleView = {
  name: string;
  /** Opens the page and waits until it shows what a person would see. */
  open: (page: Page) => Promise<void>;
};

/** Waits for the page's main heading, and for the browser's own rendering (relative times, live state). */
async function settle(page: Page, heading: string | RegExp) {
  await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
  // Relative times (app/_components/relative-time.tsx, with their exact time as a title) are
  // rendered exactly on the server and made relative once the page is live in the browser.
  const time = page.locator("main time[title]").first();
  if (await time.count()) await expect(time).toHaveText(/ago$|^in |^just now$/);
  const live = page.locator("[data-live-state]");
  if (await live.count()) await expect(live.first()).toHaveAttribute("data-live-state", /live|paused/);
}

const visit = (name: string, path: string | ((page: Page) => Promise<string>), heading: string | RegExp, then?: (page: Page) => Promise<void>): ConsoleView => ({
  name,
  open: async (page) => {
    await page.goto(typeof path === "string" ? path : await path(page));
    await settle(page, heading);
    await then?.(page);
  },
});

const detail = (status: string) => visit(`task-${status.toLowerCase()}`, async (p) => `/tasks/${(await taskWithStatus(p, status)).code}`, /^[0-9A-Za-z]{8}$/);

/** Every console page a READ_ONLY user sees. */
export const READER_VIEWS: ConsoleView[] = [
  visit("tasks", "/tasks", "Tasks"),
  visit("tasks-filtered", "/tasks?type=SYNC&status=FAILED", "Tasks"),
  detail("COMPLETED"),
  detail("PENDING"),
  visit("fanouts", "/tasks/fanouts", "Fan-outs"),
  visit("fanout-cockpit", async (p) => `/tasks/fanouts/${await largeFanoutWithFailures(p)}`, /^Fan-out /),
  visit("devices", "/devices", "Devices"),
  visit("settings", "/settings", "Settings"),
  visit("audit-refused", "/settings/audit", "Audit trail"),
  visit("schedules", "/tasks/schedules", "Schedules"),
];

/** Every console page an ADMIN sees, with the forms and panels they open. */
export const ADMIN_VIEWS: ConsoleView[] = [
  visit("tasks", "/tasks", "Tasks"),
  visit("tasks-issue-form", "/tasks", "Tasks", async (page) => {
    await page.locator("summary", { hasText: "Issue task" }).click();
    await page.getByRole("form", { name: "Issue task" }).getByLabel("Type").selectOption("PING");
    await expect(page.getByRole("form", { name: "Issue task" }).getByLabel("Host")).toBeVisible();
  }),
  visit("tasks-filtered", "/tasks?type=SYNC&status=FAILED", "Tasks"),
  visit("tasks-empty", "/tasks?device=no-such-device", "Tasks"),
  detail("SCHEDULED"),
  detail("PENDING"),
  detail("COMPLETED"),
  detail("FAILED"),
  detail("CANCELLED"),
  detail("EXPIRED"),
  visit("fanout", async (p) => `/tasks/fanouts/${(await taskWithStatus(p, "FAILED")).fanout}`, /^Fan-out /),
  visit("fanouts", "/tasks/fanouts", "Fan-outs"),
  visit("fanouts-filtered", "/tasks/fanouts?outcome=completed_with_failures&type=SYNC", "Fan-outs"),
  visit("fanout-cockpit-group-open", async (p) => `/tasks/fanouts/${await largeFanoutWithFailures(p)}`, /^Fan-out /, async (page) => {
    await page.getByRole("region", { name: /^Failures/ }).locator("summary").first().click();
    await expect(page.getByRole("button", { name: /^Retry this group/ }).first()).toBeVisible();
  }),
  visit("devices", "/devices", "Devices"),
  visit("devices-actions-open", "/devices", "Devices", async (page) => {
    const toggle = page.getByRole("button", { name: /^Actions for fw-/ }).first();
    await toggle.click();
    await expect(toggle).toHaveAttribute("aria-expanded", "true");
  }),
  visit("settings", "/settings", "Settings"),
  visit("audit", "/settings/audit", "Audit trail"),
  visit("schedules-form-open", "/tasks/schedules", "Schedules", async (page) => {
    await page.locator("summary", { hasText: "New schedule" }).click();
    await expect(page.getByRole("form", { name: "New schedule" }).getByRole("region", { name: /^Next 5 runs/ }).locator("li")).toHaveCount(5);
  }),
  visit("audit-filtered", "/settings/audit?action=task&since=2020-01-01", "Audit trail"),
  visit("not-found", "/tasks/00000000", "This page could not be found."),
  visit("no-such-address", "/no/such/page", "This page could not be found."),
];
