import { expect, type Locator, type Page } from "@playwright/test";
import { PASSWORD, STATE, test, USERS } from "./fixtures";
import { TasksPage } from "./pages/tasks-page";
import { ADMIN_VIEWS, expectNoSidewaysScroll, PHONE } from "./support/page-checks";

// The console on a phone (390 × 844): the header keeps the organization switcher and Sign out
// on screen, and no page is wider than the screen; wide tables scroll inside their own region.
test.use({ viewport: PHONE });

/** Entirely inside the screen's width, and visible. */
async function expectOnScreen(page: Page, control: Locator) {
  await expect(control).toBeVisible();
  const box = (await control.boundingBox())!;
  expect(box.x, `${control} starts off the screen`).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width, `${control} runs off the screen`).toBeLessThanOrEqual(PHONE.width);
}

test.describe("the header", () => {
  test.use({ storageState: STATE.adminSwitcher });

  test("keeps the organization switcher on screen, and it switches", async ({ page }) => {
    const tasks = new TasksPage(page);
    await tasks.goto();
    await expectOnScreen(page, tasks.orgSwitcher);
    await expectOnScreen(page, page.getByRole("banner").getByRole("button", { name: "Sign out" }));
    for (const link of await tasks.nav.getByRole("link").all()) await expectOnScreen(page, link);

    await tasks.switchOrganization("Globex");
    await expectOnScreen(page, tasks.orgSwitcher);
    // Back, for the other tests that share this session.
    await tasks.switchOrganization("Acme Corp");
  });
});

test.describe("signing out", () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test("Sign out is on screen and signs out", async ({ page, signIn }) => {
    await signIn.goto();
    await signIn.signInAndLand(USERS.viewer, PASSWORD);
    const signOut = page.getByRole("banner").getByRole("button", { name: "Sign out" });
    await expectOnScreen(page, signOut);
    await signOut.click();
    await expect(signIn.heading).toBeVisible();
    await page.goto("/tasks");
    await expect(page).toHaveURL(/\/sign-in/);
  });
});

test.describe("every page", () => {
  test.use({ storageState: STATE.admin });

  test("fits the screen's width; tables scroll in their own named region", async ({ page }) => {
    test.setTimeout(120_000);
    for (const view of ADMIN_VIEWS) {
      await view.open(page);
      await expectNoSidewaysScroll(page, view.name);
    }
    // The task list is wider than a phone: it scrolls inside its region, which the keyboard can reach.
    await page.goto("/tasks");
    const region = page.getByRole("region", { name: "Task list" });
    await expect(region).toHaveAttribute("tabindex", "0");
    expect(await region.evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true);
  });
});
