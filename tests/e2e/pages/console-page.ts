import { expect, type Locator, type Page } from "@playwright/test";

/** What every console page shares: the header with its navigation and organization switcher. */
export class ConsolePage {
  readonly nav: Locator;
  readonly orgSwitcher: Locator;

  constructor(readonly page: Page) {
    const header = page.getByRole("banner");
    this.nav = header.getByRole("navigation", { name: "Main" });
    this.orgSwitcher = header.getByLabel("Organization", { exact: true });
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
