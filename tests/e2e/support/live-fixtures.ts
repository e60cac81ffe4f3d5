// Fixtures for the live specs: agents a test enrolls (closed after it), issuing tasks with
// the page's session, and a check that the page was never reloaded.
import type { Page } from "@playwright/test";
import { expect, test as base } from "../fixtures";
import { enrollAgent, issueTask, type E2EAgent, type Issued } from "./agents";

export { expect } from "../fixtures";

type LiveFixtures = {
  /** Enrolls, approves and connects new agent devices of the admin's organization. */
  agents: { enroll: (count?: number) => Promise<E2EAgent[]> };
  /** Issues a task (PING unless told) to the named devices through the API, as the page's user. */
  issue: (devices: string[], type?: string) => Promise<Issued>;
};

export const test = base.extend<LiveFixtures>({
  agents: async ({ page, baseURL }, provide) => {
    const open: E2EAgent[] = [];
    await provide({
      enroll: async (count = 1) => {
        const made: E2EAgent[] = [];
        for (let i = 0; i < count; i++) made.push(await enrollAgent(page.request, baseURL!));
        open.push(...made);
        return made;
      },
    });
    for (const a of open) a.close();
  },
  issue: async ({ page, baseURL }, provide) => {
    await provide((devices, type) => issueTask(page.request, baseURL!, devices, type));
  },
});

/**
 * Marks the page's window: a full reload or navigation would lose the mark, a live update
 * or a router refresh keeps it. Returns the check.
 */
export async function markWindow(page: Page): Promise<() => Promise<void>> {
  const mark = `live-${Math.random().toString(36).slice(2)}`;
  await page.evaluate((m) => ((window as unknown as { __liveMark?: string }).__liveMark = m), mark);
  return async () => {
    expect(await page.evaluate(() => (window as unknown as { __liveMark?: string }).__liveMark), "the page was reloaded").toBe(mark);
  };
}
