import { expect, type Locator, type Page } from "@playwright/test";
import { FANOUT_OUTCOME_LABELS } from "../../../rules/fanouts";
import { ConsolePage } from "./console-page";

/** One fan-out's page: its progress bar, kept live until every task is final. */
export class FanoutPage extends ConsolePage {
  readonly heading: Locator;
  readonly progress: Locator;
  /** Shown instead of the live indicator once the fan-out is done. */
  readonly finishedNote: Locator;

  constructor(page: Page) {
    super(page);
    this.heading = page.getByRole("heading", { level: 1 });
    this.progress = page.getByRole("main").getByRole("progressbar");
    this.finishedNote = page.getByRole("main").getByText("Finished · no further updates");
  }

  /** One of the cockpit's cards, by the start of its title ("Failures (2)" is "Failures"). */
  card(title: string): Locator {
    return this.page.getByRole("region", { name: new RegExp(`^${title}`) });
  }

  get outcome(): Locator {
    return this.page.getByRole("main").locator("header").first().getByText(new RegExp(`^(${Object.values(FANOUT_OUTCOME_LABELS).join("|")})$`));
  }

  button(name: RegExp): Locator {
    return this.page.getByRole("main").getByRole("button", { name });
  }

  async goto(code: string) {
    await this.page.goto(`/tasks/fanouts/${encodeURIComponent(code)}`);
    await expect(this.heading).toHaveText(`Fan-out ${code}`);
  }
}
