// The database out of reach while an admin reads the console (PostgreSQL: a server of its own
// that can go away): the page says it could not be loaded, with nothing of the failure in it,
// and "Try again" brings the page back once the database is.
import pg from "pg";
import { expect, SCREENSHOTS, STATE, test } from "./fixtures";
import { expectAccessible } from "./support/page-checks";
import { serverDbUrl } from "./support/agents";
import { invite } from "./support/people";

const ADMIN_URL = process.env.TASKWIRE_TEST_PG_URL;

test.skip(!ADMIN_URL, "SQLite is a file of the server's own: it cannot go away while the server runs");
test.use({ storageState: STATE.admin });

/** Refuses or allows new connections to the server's database; refusing also ends those open. */
async function reachable(yes: boolean) {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    const name = new URL(serverDbUrl()).pathname.slice(1);
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${yes}`);
    if (!yes) await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [name]);
  } finally {
    await admin.end();
  }
}

test("a page the database cannot serve says so, and Try again brings it back", async ({ page }) => {
  await page.goto("/tasks");
  await expect(page.getByRole("heading", { name: "Tasks", exact: true })).toBeVisible();

  await reachable(false);
  try {
    await page.goto("/tasks");
    const alert = page.getByRole("alert");
    await expect(alert.getByRole("heading", { name: "This page could not be loaded." })).toBeVisible();
    await expect(page.locator("body")).not.toContainText(/postgres|select |ECONN|terminat|node_modules|Application error/i);
    await expectAccessible(page, "the error page");
    await page.screenshot({ path: `${SCREENSHOTS}/error-page.png`, fullPage: true });
  } finally {
    await reachable(true);
  }
  await page.getByRole("button", { name: "Try again" }).click();
  await expect(page.getByRole("heading", { name: "Tasks", exact: true })).toBeVisible();
});

test("joining through an invitation while the database is out of reach says so and changes nothing; once it is back, the same click joins", async ({ browser }) => {
  const email = "joins-late@example.test";
  // Signed out (this file's pages are the admin's otherwise).
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  const page = await context.newPage();
  // A new account from a Globex link, then, signed in as it, a link to Acme.
  await page.goto(await invite(browser, STATE.adminGlobex, email, "READ_ONLY"));
  await page.getByLabel("Your name").fill("Lena Late");
  await page.getByLabel("Password (8+ characters)").fill("joins-late-pass");
  await reachable(false);
  try {
    await page.getByRole("button", { name: "Create account and join" }).click();
    await expect(page.getByRole("alert").filter({ hasText: /\S/ })).toHaveText("The database cannot be reached just now; try again shortly");
  } finally {
    await reachable(true);
  }
  // What was typed is still there, the password aside.
  await expect(page.getByLabel("Your name")).toHaveValue("Lena Late");
  await page.getByLabel("Password (8+ characters)").fill("joins-late-pass");
  await page.getByRole("button", { name: "Create account and join" }).click();
  await expect(page.getByText("Every action taken on a device of Globex, newest first.")).toBeVisible();

  await page.goto(await invite(browser, STATE.admin, email, "READ_ONLY"));
  await reachable(false);
  try {
    await page.getByRole("button", { name: "Join Acme Corp" }).click();
    await expect(page.getByRole("alert").filter({ hasText: /\S/ })).toHaveText("The database cannot be reached just now; try again shortly");
    await expect(page.locator("body")).not.toContainText(/postgres|ECONN|terminat|node_modules|Application error/i);
  } finally {
    await reachable(true);
  }
  await page.getByRole("button", { name: "Join Acme Corp" }).click();
  await expect(page.getByText("Every action taken on a device of Acme Corp, newest first.")).toBeVisible();
  await context.close();
});
