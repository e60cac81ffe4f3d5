import { STATE } from "./fixtures";
import { expect, test } from "./support/live-fixtures";

// How long from an agent's result to the row's badge changing in Chromium, over 100 tasks.
// A measurement, not a check: it prints the figures. Not part of `npm test`; run it with
// `npm run bench:live` (the "measure" project exists only when MEASURE=1).
test.use({ storageState: STATE.admin });

const SAMPLES = 100;

type Marked = Window & { __badge?: Promise<number> };

test("agent result → badge change, over 100 samples", async ({ page, tasks, agents, issue }) => {
  test.setTimeout(SAMPLES * 3_000);
  const [agent] = await agents.enroll();
  await tasks.goto();
  await tasks.expectLive();

  const samples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const code = (await issue([agent.name])).tasks[0].code;
    await agent.accept(code);
    await expect(tasks.statusOf(code)).toHaveText("IN_PROGRESS");
    // The browser notes the moment the badge turns, by its own clock (same host as ours).
    await page.evaluate((c) => {
      (window as Marked).__badge = new Promise<number>((resolve) => {
        const done = () => document.querySelector(`tr[data-code="${c}"] [data-status="COMPLETED"]`);
        const observer = new MutationObserver(() => {
          if (!done()) return;
          observer.disconnect();
          resolve(Date.now());
        });
        observer.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
      });
    }, code);
    const sent = Date.now();
    await agent.result(code, "COMPLETED");
    const seen = await page.evaluate(() => (window as Marked).__badge!);
    samples.push(seen - sent);
  }

  const sorted = [...samples].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  console.log(
    `[live latency] ${samples.length} samples, agent result emit → badge COMPLETED in Chromium: ` +
      `median ${pct(50)} ms, p90 ${pct(90)} ms, p99 ${pct(99)} ms, worst ${sorted[sorted.length - 1]} ms, best ${sorted[0]} ms, mean ${mean.toFixed(0)} ms`,
  );
});
