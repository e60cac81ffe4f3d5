// Joining an organization takes the person's own consent: an ADMIN invites an email and
// hands over the link; the person creates their account from it (or signs in) and accepts.
import type { Page } from "@playwright/test";
import { expect, STATE, test } from "./fixtures";
import { expectAccessible, PHONE } from "./support/page-checks";
import { invite } from "./support/people";

const NEWCOMER = "newcomer@example.test";

async function header(page: Page) {
  return page.getByRole("banner");
}

test("a newcomer creates their account from the link and lands in the organization; a second invitation is accepted signed in", async ({ browser }) => {
  const acmeLink = await invite(browser, STATE.admin, NEWCOMER, "READ_WRITE");

  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(acmeLink);
  await expect(page.getByRole("heading", { name: "Join Acme Corp" })).toBeVisible();
  await expect(page.getByText(`invited ${NEWCOMER} to Acme Corp as READ_WRITE`)).toBeVisible();
  await expectAccessible(page, "invitation, signed out");
  await page.getByLabel("Your name").fill("Nina Newcomer");
  await page.getByLabel("Password (8+ characters)").fill("newcomer-pass");
  await page.getByRole("button", { name: "Create account and join" }).click();
  await expect(page).toHaveURL(/\/tasks$/);
  await expect(page.getByText("Every action taken on a device of Acme Corp, newest first.")).toBeVisible();
  await expect(await header(page)).toContainText(NEWCOMER);

  // The link worked once.
  await page.goto(acmeLink);
  await expect(page.getByRole("heading", { name: "Invitation not valid" })).toBeVisible();
  await expectAccessible(page, "invitation no longer valid");

  // Invited to Globex too: signed in with that email, one click joins, and Globex is active.
  const globexLink = await invite(browser, STATE.adminGlobex, NEWCOMER, "READ_ONLY");
  await page.goto(globexLink);
  await expect(page.getByRole("heading", { name: "Join Globex" })).toBeVisible();
  await page.setViewportSize(PHONE);
  await expectAccessible(page, "invitation, signed in (phone)");
  await page.getByRole("button", { name: "Join Globex" }).click();
  await expect(page.getByText("Every action taken on a device of Globex, newest first.")).toBeVisible();
  await context.close();
});

test("a link opened by someone signed in with another email says so and changes nothing", async ({ browser }) => {
  const link = await invite(browser, STATE.admin, "someone-else@example.test", "READ_ONLY");
  const context = await browser.newContext({ storageState: STATE.viewer });
  const page = await context.newPage();
  await page.goto(link);
  await expect(page.getByText("You are signed in as viewer@taskwire.local")).toBeVisible();
  await expect(page.getByRole("button", { name: /Join/ })).toHaveCount(0);
  await expectAccessible(page, "invitation for another email");
  await context.close();
});
