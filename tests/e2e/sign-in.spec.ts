import { expect, PASSWORD, test, USERS } from "./fixtures";

// Signed out: a fresh browser with no session. Two sign-in attempts here, well under the
// limit of 10 a minute together with the setup's.
test.use({ storageState: { cookies: [], origins: [] } });

test("a wrong password shows an error and stays on the sign-in page", async ({ page, signIn }) => {
  await signIn.goto();
  await signIn.signIn(USERS.admin, "not-the-password");
  await expect(signIn.error).toHaveText("Wrong email or password.");
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(signIn.submit).toBeEnabled();
});

test("the task list sends a signed-out visitor to sign in", async ({ page, signIn }) => {
  await page.goto("/tasks");
  await expect(page).toHaveURL(/\/sign-in/);
  await expect(signIn.heading).toBeVisible();
  await expect(signIn.email).toBeVisible();
});

test("signing in with the right password lands on the task list", async ({ page, signIn, tasks }) => {
  await signIn.goto();
  await signIn.signIn(USERS.admin, PASSWORD);
  await expect(page).toHaveURL(/\/tasks$/);
  await expect(tasks.heading).toBeVisible();
  await expect(tasks.nav.getByRole("link", { name: "Tasks" })).toHaveAttribute("aria-current", "page");
  await expect(page.getByText(USERS.admin)).toBeVisible();
});
