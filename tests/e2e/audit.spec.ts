// The audit trail as ADMINs read it: a second admin's open page shows what the first one just
// did, without reloading; filters live in the URL; an unknown action is refused naming the field.
import type { Browser } from "@playwright/test";
import { expect, STATE, test } from "./fixtures";
import { expectAccessible, PHONE } from "./support/page-checks";
import { invite } from "./support/people";

const AUDITOR = "auditor@example.test";
const SUBJECT = "subject@example.test";

/** The demo admin invites `email` to Acme Corp; the person creates their account from the link. Returns their signed-in context. */
async function join(browser: Browser, email: string, role: string) {
  const link = await invite(browser, STATE.admin, email, role);
  const context = await browser.newContext();
  const joining = await context.newPage();
  await joining.goto(link);
  await joining.getByLabel("Your name").fill(email.split("@")[0]);
  await joining.getByLabel("Password (8+ characters)").fill("audit-pass-1");
  await joining.getByRole("button", { name: "Create account and join" }).click();
  await expect(joining).toHaveURL(/\/tasks$/);
  await joining.close();
  return context;
}

test("a role change by one admin appears on another admin's open audit page, live", async ({ browser }) => {
  const auditor = await join(browser, AUDITOR, "ADMIN");
  const subject = await join(browser, SUBJECT, "READ_ONLY");
  await subject.close();

  const watching = await auditor.newPage();
  await watching.goto("/settings/audit");
  await expect(watching.getByRole("heading", { level: 1, name: "Audit trail" })).toBeVisible();
  await expect(watching.locator("[data-live-state=live]")).toBeVisible();
  // Both joins are there already, each by the person who joined.
  await expect(watching.locator('[data-audit-action="member.add"]', { hasText: SUBJECT })).toBeVisible();
  const roleRows = watching.locator('[data-audit-action="member.role"]', { hasText: SUBJECT });
  await expect(roleRows).toHaveCount(0);

  const admin = await browser.newContext({ storageState: STATE.admin });
  const acting = await admin.newPage();
  await acting.goto("/settings");
  await acting.getByLabel(`Role for ${SUBJECT}`).selectOption("READ_WRITE");
  await acting.getByRole("button", { name: `Save role of ${SUBJECT}` }).click();

  // No reload on the watching page: the row arrives.
  await expect(roleRows).toHaveCount(1);
  await expect(roleRows).toContainText("admin@taskwire.local");
  await expect(roleRows).toContainText("from: READ_ONLY · to: READ_WRITE");
  await admin.close();

  // Filters in the URL: only role changes.
  await watching.getByLabel("Action").selectOption({ label: "Changed a member's role" });
  await watching.getByRole("button", { name: "Filter" }).click();
  await expect(watching).toHaveURL(/action=member\.role/);
  await expect(watching.locator("tbody tr")).toHaveCount(await watching.locator('[data-audit-action="member.role"]').count());
  await expectAccessible(watching, "audit trail, filtered");
  await watching.setViewportSize(PHONE);
  await expectAccessible(watching, "audit trail (phone)");
  await watching.screenshot({ path: "test-results/audit-phone.png", fullPage: true });

  // An unknown action: named, and nothing listed.
  await watching.goto("/settings/audit?action=device.explode");
  await expect(watching.getByRole("alert").filter({ hasText: "action:" })).toContainText("action: Unknown action");
  await expect(watching.locator("tbody tr")).toHaveCount(0);
  await auditor.close();
});

test("a read-only member is told the trail is for ADMINs, and the export refuses them", async ({ browser }) => {
  const viewer = await browser.newContext({ storageState: STATE.viewer });
  const page = await viewer.newPage();
  await page.goto("/settings/audit");
  await expect(page.getByText("Only ADMINs of this organization read its audit trail.")).toBeVisible();
  await expect(page.locator("tbody tr")).toHaveCount(0);
  const res = await page.request.get("/api/v1/audit");
  expect(res.status()).toBe(403);
  await viewer.close();
});
