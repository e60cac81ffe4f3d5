import { expect, type Browser } from "@playwright/test";

/** An ADMIN (the session saved at `state`) invites `email` with `role` from Settings; returns the link to hand over. */
export async function invite(browser: Browser, state: string, email: string, role: string): Promise<string> {
  const context = await browser.newContext({ storageState: state });
  const page = await context.newPage();
  await page.goto("/settings");
  const form = page.getByRole("form", { name: "Invite member" });
  await form.getByLabel("Email").fill(email);
  await form.getByLabel("Role").selectOption(role);
  await form.getByRole("button", { name: "Invite" }).click();
  const link = page.getByLabel(/Invitation link for/);
  await expect(link).toHaveValue(/\/invite\/inv_/);
  const url = await link.inputValue();
  // Waiting for an answer, with a way to take it back.
  await expect(page.locator(`[data-invitation="${email}"]`)).toContainText(role);
  await context.close();
  return url;
}
