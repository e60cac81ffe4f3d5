import { expect, type Locator, type Page } from "@playwright/test";

export class SignInPage {
  readonly heading: Locator;
  readonly email: Locator;
  readonly password: Locator;
  readonly submit: Locator;
  readonly error: Locator;

  constructor(readonly page: Page) {
    this.heading = page.getByRole("heading", { name: "Sign in" });
    this.email = page.getByLabel("Email");
    this.password = page.getByLabel("Password");
    this.submit = page.getByRole("button", { name: "Sign in" });
    this.error = page.getByRole("alert").filter({ hasText: /\S/ });
  }

  async goto() {
    await this.page.goto("/sign-in");
    await expect(this.heading).toBeVisible();
  }

  async signIn(email: string, password: string) {
    await this.email.fill(email);
    await this.password.fill(password);
    await this.submit.click();
  }

  /** Signs in and waits for the console's task list, where a successful sign-in lands. */
  async signInAndLand(email: string, password: string) {
    await this.signIn(email, password);
    await this.page.waitForURL("**/tasks");
    await expect(this.page.getByRole("heading", { level: 1, name: "Tasks" })).toBeVisible();
  }
}
