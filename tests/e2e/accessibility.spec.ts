import { mkdirSync } from "node:fs";
import type { Page } from "@playwright/test";
import { expect, PASSWORD, STATE, test, USERS } from "./fixtures";
import { SignInPage } from "./pages/sign-in-page";
import { addLoneUser, startEmptyServer } from "./support/empty-server";
import { ADMIN_VIEWS, expectAccessible, PHONE, READER_VIEWS, VIEWS, type ConsoleView } from "./support/page-checks";

// WCAG 2.1 AA on every page, checked by axe-core at desktop and phone width, for each role
// and in the states a person meets (forms open, several task statuses, nothing found). Each
// check leaves a screenshot per width in test-results/views for a person to look at.

test.beforeAll(() => mkdirSync(VIEWS, { recursive: true }));

/** The page as a person scrolls through it, down to about two screens (long lists are cut). */
async function picture(page: Page, path: string) {
  const size = page.viewportSize()!;
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.screenshot({ path, fullPage: true, clip: { x: 0, y: 0, width: size.width, height: Math.min(height, size.height * 2) } });
}

/** Axe at the current (desktop) width, then at phone width, with a picture of each. */
async function checkBothWidths(page: Page, name: string, reopen?: () => Promise<void>) {
  await expectAccessible(page, `${name} (desktop)`);
  await picture(page, `${VIEWS}/${name}-desktop.png`);
  await page.setViewportSize(PHONE);
  await reopen?.();
  await expectAccessible(page, `${name} (phone)`);
  await picture(page, `${VIEWS}/${name}-phone.png`);
}

function checkViews(role: string, views: ConsoleView[]) {
  for (const view of views) {
    test(`${view.name} meets WCAG 2.1 AA`, async ({ page }) => {
      await view.open(page);
      // Opened again at phone width: what a panel or form shows depends on the page's state, not the width.
      await checkBothWidths(page, `${role}-${view.name}`, () => view.open(page));
    });
  }
}

test.describe("as an admin", () => {
  test.use({ storageState: STATE.admin });
  checkViews("admin", ADMIN_VIEWS);
});

test.describe("as a read-only member", () => {
  test.use({ storageState: STATE.viewer });
  checkViews("viewer", READER_VIEWS);
});

test.describe("signed out", () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test("sign-in meets WCAG 2.1 AA, with and without an error shown", async ({ page, signIn }) => {
    await signIn.goto();
    await checkBothWidths(page, "sign-in");
    await signIn.signIn(USERS.viewer, "not-the-password");
    await expect(signIn.error).toBeVisible();
    await expectAccessible(page, "sign-in with an error");
  });
});

test.describe("on a fresh install", () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test("setup and the no-organization page meet WCAG 2.1 AA", async ({ browser }) => {
    test.setTimeout(180_000);
    const server = await startEmptyServer();
    const context = await browser.newContext({ baseURL: server.url });
    try {
      const page = await context.newPage();
      await page.goto("/tasks");
      await expect(page).toHaveURL(/\/setup$/);
      await expect(page.getByRole("heading", { level: 1, name: "Set up Taskwire" })).toBeVisible();
      await checkBothWidths(page, "setup");

      await addLoneUser(server, "lone@taskwire.local", PASSWORD);
      await page.setViewportSize({ width: 1400, height: 1000 });
      const signIn = new SignInPage(page);
      await signIn.goto();
      await signIn.signIn("lone@taskwire.local", PASSWORD);
      await expect(page).toHaveURL(/\/no-organization$/);
      await expect(page.getByRole("heading", { level: 1, name: "No organization" })).toBeVisible();
      await checkBothWidths(page, "no-organization");
    } finally {
      await context.close();
      await server.stop();
    }
  });
});
