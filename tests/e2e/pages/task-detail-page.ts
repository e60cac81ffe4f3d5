import { expect, type Locator, type Page } from "@playwright/test";
import { ConsolePage } from "./console-page";

export const TASK_STATUS = /^(SCHEDULED|PENDING|IN_PROGRESS|COMPLETED|FAILED|CANCELLED|EXPIRED)$/;
export const CARDS = ["Task Information", "Timestamps", "Message", "Actions"] as const;
type CardName = (typeof CARDS)[number];

/** One task's page: the code and status badge, then the four cards. */
export class TaskDetailPage extends ConsolePage {
  readonly heading: Locator;
  readonly statusBadge: Locator;
  readonly refresh: Locator;
  readonly cancel: Locator;
  readonly rerun: Locator;
  /** Shown instead of the live indicator once the task is final. */
  readonly finishedNote: Locator;

  constructor(page: Page) {
    super(page);
    this.heading = page.getByRole("heading", { level: 1 });
    // The badge beside the code in the page's header.
    this.statusBadge = page.getByRole("main").locator("header").getByText(TASK_STATUS);
    const actions = this.card("Actions");
    this.refresh = actions.getByRole("button", { name: "Refresh" });
    this.cancel = actions.getByRole("button", { name: "Cancel" });
    this.rerun = actions.getByRole("button", { name: "Re-run" });
    this.finishedNote = page.getByRole("main").locator("header").getByText("Finished · no further updates");
  }

  async goto(code: string) {
    return this.page.goto(`/tasks/${encodeURIComponent(code)}`);
  }

  async expectTask(code: string) {
    await expect(this.heading).toHaveText(code);
  }

  card(name: CardName): Locator {
    return this.page.getByRole("region", { name });
  }

  /** The value shown for a label in a card ("Scheduled" → "Immediate"). */
  field(card: CardName, label: string): Locator {
    return this.card(card)
      .getByRole("term")
      .filter({ hasText: new RegExp(`^${label}$`) })
      .locator("xpath=following-sibling::dd[1]");
  }

  /** Cancels after accepting the browser's confirmation; returns the confirmation's text. */
  async cancelTask(): Promise<string> {
    let message = "";
    this.page.once("dialog", (d) => {
      message = d.message();
      void d.accept();
    });
    await this.cancel.click();
    await expect.poll(() => message).not.toBe("");
    return message;
  }
}

export class NotFoundPage {
  readonly message: Locator;
  constructor(readonly page: Page) {
    this.message = page.getByText("This page could not be found.");
  }
}
