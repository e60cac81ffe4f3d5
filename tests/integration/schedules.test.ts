// Schedules on a real server with a real agent: each due time issues one fan-out linked to
// its run, whose task reaches the agent; a server stopped across a due time catches up once,
// or skips, as the schedule says. Time is moved as the clock tests move it: a schedule's next
// due time is set into the past (schedules are not history), and a clock that looks at least
// every 200 ms fires it within a second.
import { describe, expect, test } from "vitest";
import { acceptNext, agentServerFixture, closeAgentsAfterEach, waitFor } from "../support/agents";
import { rawRows, rawRun } from "../support/raw";

closeAgentsAfterEach();

type Run = { due_at: string; outcome: string; reason: string | null; fanout: string | null };
type Detail = { id: number; next_run_at: string | null; runs: Run[] };

const ctx = agentServerFixture({ env: { TASKWIRE_CLOCK_MAX_SLEEP_MS: "200" } });

async function create(body: Record<string, unknown>): Promise<Detail> {
  const r = await ctx.api.post<Detail>("/schedules", { as: { token: ctx.tokens.acmeWrite! }, json: { type: "SYNC", timezone: "UTC", ...body } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}
const detail = async (id: number) => (await ctx.api.get<Detail>(`/schedules/${id}`, { as: { token: ctx.tokens.acmeWrite! } })).body;
/** Makes the schedule due a second ago (each call a due time of its own), and returns that due time. */
async function dueNow(id: number): Promise<number> {
  const due = Date.now() - 1_000;
  await rawRun(ctx.dbFile, "update schedules set next_run_at = ? where id = ?", due, id);
  return due;
}
/**
 * An hourly cron at the given minutes from now (negative: past), so that no due time of its
 * own comes while a test runs: each run a test sees is one it made due.
 */
const hourlyAt = (...offsets: number[]) => {
  const minute = new Date().getUTCMinutes();
  return `${offsets.map((k) => (((minute + k) % 60) + 60) % 60).join(",")} * * * *`;
};
/** Moves the schedule's next due time `ms` into the past (to its minute), as if the server had been down that long. */
const dueAgo = (id: number, ms: number) => rawRun(ctx.dbFile, "update schedules set next_run_at = ? where id = ?", Math.floor((Date.now() - ms) / 60_000) * 60_000, id);

describe("schedules on a running server", () => {
  test("a schedule made due three times runs three times, each run a fan-out whose task reaches the agent", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    // Its own due time half an hour away: a run of its own would reach the agent before the next one the test makes due.
    const s = await create({ name: `three runs ${name}`, cron: hourlyAt(30), targets: { devices: [name] } });
    const dues = new Set<number>();
    for (let i = 1; i <= 3; i++) {
      const due = await dueNow(s.id);
      dues.add(due);
      const run = await waitFor(`run ${i}`, async () => (await detail(s.id)).runs.find((r) => Date.parse(r.due_at) === due), 10_000);
      expect(run).toMatchObject({ outcome: "issued", fanout: expect.stringMatching(/^[0-9A-Za-z]{8}$/) });
      // The fan-out names the schedule and the run that issued it.
      const fanout = await ctx.api.get<{ schedule: unknown }>(`/fanouts/${run!.fanout}`, { as: { token: ctx.tokens.acmeWrite! } });
      expect(fanout.body.schedule).toEqual({ id: s.id, name: `three runs ${name}`, due_at: run!.due_at });
      const [task] = await rawRows<{ code: string }>(ctx.dbFile, "select t.code from tasks t join fanouts f on f.id = t.fanout_id where f.code = ?", run!.fanout);
      await acceptNext(ctx, agent, task.code);
    }
    // One run for each due time and no other, each its own fan-out.
    const runs = (await detail(s.id)).runs;
    expect(runs.map((r) => Date.parse(r.due_at)).sort((a, b) => a - b)).toEqual([...dues].sort((a, b) => a - b));
    expect(new Set(runs.map((r) => r.fanout)).size).toBe(3);
  });

  test.each([true, false])("a server stopped across a due time: catch up %s runs it once at start, or records it skipped", async (catchUp) => {
    const { name } = await ctx.device();
    // Due 15, 10 and 5 minutes ago, and next in 45: none of its own comes while the server starts.
    const s = await create({ name: `catch up ${catchUp} ${name}`, cron: hourlyAt(-15, -10, -5), targets: { devices: [name] }, catch_up: catchUp });
    // Down across 16 minutes: three due times missed.
    const stoppedAt = Date.now();
    await ctx.server.restart(async () => void (await dueAgo(s.id, 16 * 60_000)));
    const runs = await waitFor("the missed run", async () => {
      const d = await detail(s.id);
      return d.runs.length ? d.runs : undefined;
    }, 10_000);
    expect(runs).toHaveLength(1);
    expect(runs![0]).toMatchObject(catchUp ? { outcome: "issued", fanout: expect.any(String) } : { outcome: "skipped", reason: expect.stringMatching(/Missed while the server was down/) });
    // Once: the next due time is after the restart, and nothing more runs for the missed ones
    // meanwhile. The run stands for the latest missed due time.
    expect(Date.parse((await detail(s.id)).next_run_at!)).toBeGreaterThan(stoppedAt);
    // Five minutes before the minute the cron was made in (or one later), not ten or fifteen.
    expect(Date.parse(runs![0].due_at)).toBeGreaterThan(stoppedAt - 7 * 60_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await detail(s.id)).runs).toHaveLength(1);
  });
});
