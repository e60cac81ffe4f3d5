import { expect, type Locator, type Page } from "@playwright/test";
import { ConsolePage } from "./console-page";

export const TASK_COLUMNS = ["Task Code", "Type", "Status", "Device", "Organization", "Scheduled", "Created"] as const;
export type TaskColumn = (typeof TASK_COLUMNS)[number];
export type TaskFilter = { device?: string; type?: string; status?: string; fanout?: string };

/** The Tasks page: the issue form, the filter bar, the table and its pages. */
export class TasksPage extends ConsolePage {
  readonly heading: Locator;
  readonly filterBar: Locator;
  readonly deviceFilter: Locator;
  readonly typeFilter: Locator;
  readonly statusFilter: Locator;
  readonly filterButton: Locator;
  readonly table: Locator;
  readonly rows: Locator;
  readonly next: Locator;
  readonly previous: Locator;
  readonly issueForm: IssueForm;
  /** The Auto-refresh switch beside the title (ON: the list is live; OFF: frozen). */
  readonly autoRefresh: Locator;
  /** The progress bars of active fan-outs above the table. */
  readonly activeFanouts: Locator;
  /** "N new tasks — show", while new rows wait for the admin to stop reading. */
  readonly newTasks: Locator;

  constructor(page: Page) {
    super(page);
    this.heading = page.getByRole("heading", { level: 1, name: "Tasks" });
    this.filterBar = page.getByRole("search", { name: "Filter tasks" });
    this.deviceFilter = this.filterBar.getByLabel("Device");
    this.typeFilter = this.filterBar.getByLabel("Type");
    this.statusFilter = this.filterBar.getByLabel("Status");
    this.filterButton = this.filterBar.getByRole("button", { name: "Filter" });
    this.table = page.getByRole("table");
    // Body rows are the ones with data cells; the header row has column headers only.
    this.rows = this.table.getByRole("row").filter({ has: page.getByRole("cell") });
    const pages = page.getByRole("navigation", { name: "Pages" });
    this.next = pages.getByRole("link", { name: "Next" });
    this.previous = pages.getByRole("link", { name: "Previous" });
    this.issueForm = new IssueForm(page);
    this.autoRefresh = page.getByRole("switch", { name: "Auto-refresh" });
    this.activeFanouts = page.getByRole("region", { name: "Active fan-outs" });
    this.newTasks = page.getByRole("button", { name: /^\d+ new tasks? — show$/ });
  }

  /** The status badge of one task's row. */
  statusOf(code: string): Locator {
    return this.row(code).getByRole("cell").nth(TASK_COLUMNS.indexOf("Status"));
  }

  /** One fan-out's progress bar (aria-valuenow: percent finished). */
  fanoutProgress(code: string): Locator {
    return this.page.getByRole("progressbar", { name: `Fan-out ${code} progress` });
  }

  /**
   * Turns Auto-refresh on or off from the keyboard (the switch's input is visually hidden
   * under its drawn track, which a pointer reaches only through the label) and waits for
   * the indicator to agree.
   */
  async setAutoRefresh(on: boolean) {
    if ((await this.autoRefresh.isChecked()) !== on) await this.autoRefresh.press("Space");
    if (on) await expect(this.autoRefresh).toBeChecked();
    else await expect(this.autoRefresh).not.toBeChecked();
    await expect(this.page.getByText(`Auto-refresh ${on ? "ON" : "OFF"}`)).toBeVisible();
    if (on) await this.expectLive();
    else await expect(this.liveIndicator).toHaveAttribute("data-live-state", "paused");
  }

  /** Opens the list with the given filters in the URL, as a bookmark would. */
  async goto(filter: TaskFilter = {}) {
    const q = new URLSearchParams(Object.entries(filter).filter(([, v]) => v) as [string, string][]).toString();
    await this.page.goto(q ? `/tasks?${q}` : "/tasks");
    await expect(this.heading).toBeVisible();
  }

  /** Fills the filter bar and applies it, waiting for the filtered list to load. */
  async filter(f: { device?: string; type?: string; status?: string }) {
    if (f.device !== undefined) await this.deviceFilter.fill(f.device);
    if (f.type !== undefined) await this.typeFilter.selectOption(f.type);
    if (f.status !== undefined) await this.statusFilter.selectOption(f.status);
    await this.filterButton.click();
    // The filter bar is a plain GET form: the URL is the filter, and the new page loads in full.
    await this.page.waitForURL((url) => Object.entries(f).every(([k, v]) => !v || url.searchParams.get(k) === v));
  }

  /** The URL's search parameters, as the list read them. */
  searchParams() {
    return new URL(this.page.url()).searchParams;
  }

  emptyState(title = "No tasks match these filters") {
    return this.page.getByText(title, { exact: true });
  }

  /**
   * The cells of one column, found by its header's name. A table column has no role of its
   * own, so the header's position picks the cells.
   */
  column(name: TaskColumn): Locator {
    return this.table.locator(`tbody > tr > td:nth-child(${TASK_COLUMNS.indexOf(name) + 1})`);
  }

  /** The row of one task, by its code. */
  row(code: string): Locator {
    return this.rows.filter({ has: this.page.getByRole("link", { name: code, exact: true }) });
  }

  /** The code link of the n-th row (0 = the newest shown). */
  codeLink(n = 0): Locator {
    return this.rows.nth(n).getByRole("link");
  }

  async codeAt(n = 0): Promise<string> {
    const text = (await this.codeLink(n).textContent())?.trim();
    if (!text) throw new Error(`No task in row ${n}`);
    return text;
  }

  /** Asserts that the list shows at least one row and that every row's cell in the column matches. */
  async expectEveryRow(name: TaskColumn, expected: string | RegExp) {
    const cells = this.column(name);
    await expect(cells.first()).toBeVisible();
    const n = await cells.count();
    await expect(cells).toHaveText(new Array<string | RegExp>(n).fill(expected));
  }

  /** The exact creation instants of the rows shown, top to bottom. */
  async createdTimes(): Promise<number[]> {
    const iso = await this.column("Created").locator("time").evaluateAll((els) => els.map((e) => e.getAttribute("datetime") ?? ""));
    return iso.map((s) => Date.parse(s));
  }
}

/** The "Issue task" form, behind its disclosure on the Tasks page. */
export class IssueForm {
  readonly disclosure: Locator;
  readonly form: Locator;
  readonly type: Locator;
  readonly host: Locator;
  readonly count: Locator;
  readonly names: Locator;
  readonly now: Locator;
  readonly at: Locator;
  readonly runAt: Locator;
  readonly ttl: Locator;
  readonly submit: Locator;
  readonly success: Locator;
  readonly error: Locator;

  constructor(readonly page: Page) {
    // A <summary> has no ARIA role; it is the text a person clicks to open the form.
    this.disclosure = page.locator("summary", { hasText: "Issue task" });
    this.form = page.getByRole("form", { name: "Issue task" });
    this.type = this.form.getByLabel("Type");
    this.host = this.form.getByLabel("Host");
    this.count = this.form.getByLabel("Count");
    this.names = this.form.getByLabel("Device names");
    this.now = this.form.getByRole("radio", { name: "Now", exact: true });
    this.at = this.form.getByRole("radio", { name: "At", exact: true });
    this.runAt = this.form.getByLabel("Run at (your local time)");
    this.ttl = this.form.getByLabel("Time to live", { exact: true });
    this.submit = this.form.getByRole("button", { name: "Issue task" });
    this.success = this.form.getByRole("status");
    this.error = this.form.getByRole("alert");
  }

  async open() {
    await this.disclosure.click();
    await expect(this.form).toBeVisible();
  }

  target(kind: "Devices" | "OUs" | "Whole organization") {
    return this.form.getByRole("radio", { name: kind, exact: true });
  }

  /** Issues a PING to the named devices; `count` left out keeps the form's default. */
  async fillPing(p: { devices: string; host: string; count?: string }) {
    await this.type.selectOption("PING");
    await this.host.fill(p.host);
    if (p.count !== undefined) await this.count.fill(p.count);
    await this.target("Devices").check();
    await this.names.fill(p.devices);
  }

  /** The link to what was issued: the fan-out for several tasks, the task for one. */
  fanoutLink(): Locator {
    return this.success.getByRole("link", { name: /^fan-out / });
  }
}
