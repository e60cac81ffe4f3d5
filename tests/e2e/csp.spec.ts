import { expect, STATE, test } from "./fixtures";
import { ADMIN_VIEWS, watchCsp } from "./support/page-checks";

// Every page runs under the Content-Security-Policy the server sends (scripts only with the
// request's nonce, no inline styles, sockets to this origin only) without the browser
// refusing anything, and the live channel still connects under it.

test.describe("signed out", () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test("the sign-in page runs under the policy", async ({ page, signIn }) => {
    const csp = await watchCsp(page);
    const res = await page.goto("/sign-in");
    expect(res?.headers()["content-security-policy"]).toMatch(/script-src 'self' 'nonce-[^']+' 'strict-dynamic'/);
    await expect(signIn.heading).toBeVisible();
    // The form's script is running: the field it focuses has the focus.
    await expect(signIn.email).toBeFocused();
    expect(await csp.violations()).toEqual([]);
  });
});

test.describe("as an admin", () => {
  test.use({ storageState: STATE.admin });

  test("every console page runs under the policy with no violation", async ({ page }) => {
    test.setTimeout(120_000);
    const csp = await watchCsp(page);
    for (const view of ADMIN_VIEWS) {
      await view.open(page);
      expect(await csp.violations(), view.name).toEqual([]);
    }
  });

  test("the live channel connects under the policy", async ({ page, tasks }) => {
    const csp = await watchCsp(page);
    const res = await page.goto("/tasks");
    expect(res?.headers()["content-security-policy"]).toMatch(/connect-src 'self'/);
    await tasks.expectLive();
    await expect(tasks.liveIndicator).toHaveText("Live");
    expect(await csp.violations()).toEqual([]);
  });

  test("markup injected with an inline handler does not run it", async ({ page }) => {
    // That the policy is enforced, not merely sent: script injected as markup (what an XSS
    // would do) does not run, and the browser reports it.
    const csp = await watchCsp(page);
    await page.goto("/tasks");
    await page.evaluate(() => document.body.insertAdjacentHTML("beforeend", '<img src="/no-such-image.png" alt="" onerror="window.__injected = true">'));
    await expect.poll(() => csp.violations()).toContainEqual(expect.stringMatching(/^script-src/));
    expect(await page.evaluate(() => (window as unknown as { __injected?: boolean }).__injected)).toBeUndefined();
  });
});
