import { expect, type Locator, type Page } from "@playwright/test";

/** What every console page shares: the header with its navigation and organization switcher. */
export class ConsolePage {
  readonly nav: Locator;
  readonly orgSwitcher: Locator;
  /** The live channel's indicator (Live, Connecting…, Reconnecting…, Paused) on pages that have one. */
  readonly liveIndicator: Locator;

  constructor(readonly page: Page) {
    const header = page.getByRole("banner");
    this.nav = header.getByRole("navigation", { name: "Main" });
    this.orgSwitcher = header.getByLabel("Organization", { exact: true });
    // A status region; its state is in data-live-state, beside the words a person reads.
    this.liveIndicator = page.getByRole("main").getByRole("status").and(page.locator("[data-live-state]"));
  }

  /** Waits until the page's live channel is connected and watching. */
  async expectLive() {
    await expect(this.liveIndicator).toHaveAttribute("data-live-state", "live");
  }

  /**
   * Picks an organization by name ("Globex") in the switcher; the switch happens on change
   * and lands on the task list of that organization.
   */
  async switchOrganization(name: string) {
    const option = this.orgSwitcher.getByRole("option", { name: new RegExp(`^${name} \\(`) });
    const value = await option.getAttribute("value");
    if (!value) throw new Error(`No organization named ${name} in the switcher`);
    await this.orgSwitcher.selectOption(value);
    await expect(this.page).toHaveURL(/\/tasks$/);
    await expect(this.page.getByText(`Every action taken on a device of ${name}, newest first.`)).toBeVisible();
  }
}
