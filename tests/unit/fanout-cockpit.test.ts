// The fan-out cockpit on a real database: its counts from the bookkeeping, failure groups,
// offline devices, durations and OUs, and the verbs that steer a whole fan-out.
import { and, count, eq } from "drizzle-orm";
import pg from "pg";
import { describe, expect, test } from "vitest";
import { runnerOf } from "../../db/client";
import { onPg } from "../support/databases";
import { auditEvents, fanouts, tasks } from "../../db/schema";
import { disableDevice } from "../../lib/devices/devices";
import { recordAgentMoves } from "../../lib/tasks/agent-verbs";
import { fanoutCockpit, findFanout, getFanout, listFanouts } from "../../lib/tasks/fanout-queries";
import { cancelFanoutRest, pauseFanout, resumeFanout, retryFanout } from "../../lib/tasks/fanout-verbs";
import { pendingForDevices } from "../../lib/tasks/agent-verbs";
import { issueFanout } from "../../lib/tasks/issue";
import { transitionTasks } from "../../lib/tasks/transition";
import { withTransaction } from "../../db/transaction";
import { TASK_STATUSES } from "../../rules/tasks";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { capture, expectDomainError, taskByCode, transitionsOf } from "./helpers";

const db = await freshDb();

/** The fan-out's counts per status read from its tasks, to hold the bookkeeping against. */
async function countedFromTasks(fanoutId: number) {
  const rows = await db.select({ status: tasks.status, n: count() }).from(tasks).where(eq(tasks.fanoutId, fanoutId)).groupBy(tasks.status);
  return Object.fromEntries(TASK_STATUSES.map((s) => [s, rows.find((r) => r.status === s)?.n ?? 0]));
}

/**
 * Eight devices in two OUs, one fan-out to both OUs, and its tasks ended so: three FAILED
 * (two alike but for their numbers and names, one "Disk full"), two COMPLETED, one EXPIRED,
 * two still PENDING (their devices are offline, as every device made here is).
 */
async function setup() {
  const { org, actor } = await makeOrg(db);
  const east = await makeDevices(db, org.id, 4, { prefix: "east", ous: ["East"] });
  const west = await makeDevices(db, org.id, 4, { prefix: "west", ous: ["West"] });
  const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { ous: ["East", "West"] } });
  const byDevice = new Map(issued.tasks.map((t) => [t.device, t.code]));
  const task = (d: { id: string; name: string }) => ({ deviceId: d.id, code: byDevice.get(d.name)! });
  const ran = [east[0], east[1], east[2], west[0], west[1]];
  await recordAgentMoves({ db }, ran.map(task), []);
  const result = (d: { id: string; name: string }, status: string, message: string) => ({ deviceId: d.id, raw: { code: byDevice.get(d.name)!, status, message } });
  await recordAgentMoves({ db }, [], [
    result(east[0], "FAILED", "Alias[3] 'lan_nets' references unknown host 10.0.4.12"),
    result(east[1], "FAILED", "Alias[7] 'dmz' references unknown host 192.168.9.1"),
    result(east[2], "FAILED", "Disk full"),
    result(west[0], "COMPLETED", "ok"),
    result(west[1], "COMPLETED", "ok"),
  ]);
  const expired = await taskByCode(db, task(west[2]).code);
  await withTransaction({ db }, (tx) => transitionTasks(tx, { where: eq(tasks.id, expired.id), from: "PENDING", to: "EXPIRED", message: "No agent took it" }));
  const fanout = await findFanout(db, org.id, issued.fanout);
  return { org, actor, east, west, issued, fanout, task };
}

describe("the fan-out's counts and outcome", () => {
  test("come from its row's bookkeeping and agree with its tasks at every step", async () => {
    const { actor, issued, fanout } = await setup();
    const summary = await getFanout({ db, actor }, issued.fanout);
    expect(summary.counts).toEqual(await countedFromTasks(fanout.id));
    expect(summary.counts).toMatchObject({ FAILED: 3, COMPLETED: 2, EXPIRED: 1, PENDING: 2 });
    expect(summary.outcome).toBe("running");
    await cancelFanoutRest({ db, actor }, issued.fanout);
    const after = await getFanout({ db, actor }, issued.fanout);
    expect(after.counts).toEqual(await countedFromTasks(fanout.id));
    // Failures outrank the cancel: they are what an admin must look at.
    expect(after.outcome).toBe("completed_with_failures");
    expect(after.lastFinishedAt).toBeInstanceOf(Date);
  });
});

describe("fanoutCockpit", () => {
  test("groups failures that differ only in numbers and names, largest first, with their tasks", async () => {
    const { actor, issued, east } = await setup();
    const { failures } = await fanoutCockpit({ db, actor }, issued.fanout);
    expect(failures.groups.map((g) => [g.group, g.count])).toEqual([
      ['Alias[#] "…" references unknown host <ip>', 2],
      ["Disk full", 1],
    ]);
    expect(failures.groups[0].tasks.map((t) => t.device).sort()).toEqual([east[0].name, east[1].name]);
    expect(failures.groups[0].example).toMatch(/^Alias\[\d\]/);
  });

  test("lists the offline devices its open tasks wait for, durations of what ran, and counts per OU", async () => {
    const { actor, issued, west } = await setup();
    const c = await fanoutCockpit({ db, actor }, issued.fanout);
    expect(c.offline.count).toBe(2);
    expect(c.offline.devices.map((d) => d.device).sort()).toEqual([`east-4`, west[3].name].sort());
    expect(c.offline.expiresFirst).toBeInstanceOf(Date);
    expect(c.durations.count).toBe(5);
    expect(c.durations.p50Ms).toBeGreaterThanOrEqual(0);
    expect(c.durations.p95Ms).toBeGreaterThanOrEqual(c.durations.p50Ms!);
    expect(c.durations.slowest).toHaveLength(5);
    expect(c.byOu.map((o) => [o.ou, o.counts.FAILED, o.counts.COMPLETED, o.counts.EXPIRED, o.counts.PENDING])).toEqual([
      ["East", 3, 0, 0, 1],
      ["West", 0, 2, 1, 1],
    ]);
  });

  test("counts per OU of a running fan-out may be a few seconds old and say when they were counted; once it ends they are exact", async () => {
    const { actor, issued, west, task } = await setup();
    const first = await fanoutCockpit({ db, actor }, issued.fanout);
    expect(first.byOuAsOf).toBeNull();
    await recordAgentMoves({ db }, [task(west[3])], []);
    const second = await fanoutCockpit({ db, actor }, issued.fanout);
    expect(second.fanout.counts.IN_PROGRESS).toBe(1);
    expect(second.byOuAsOf).toBeInstanceOf(Date);
    expect(second.byOu).toEqual(first.byOu);
    await recordAgentMoves({ db }, [], [{ deviceId: west[3].id, raw: { code: task(west[3]).code, status: "COMPLETED", message: "ok" } }]);
    await cancelFanoutRest({ db, actor }, issued.fanout);
    const ended = await fanoutCockpit({ db, actor }, issued.fanout);
    expect(ended.fanout.outcome).toBe("completed_with_failures");
    expect(ended.byOuAsOf).toBeNull();
    expect(ended.byOu.map((o) => [o.ou, o.counts.FAILED, o.counts.COMPLETED, o.counts.EXPIRED, o.counts.CANCELLED])).toEqual([
      ["East", 3, 0, 0, 1],
      ["West", 0, 3, 1, 0],
    ]);
  });

  test("another organization's fan-out is not found", async () => {
    const { issued } = await setup();
    const other = await makeOrg(db);
    await expectDomainError(() => fanoutCockpit({ db, actor: other.actor }, issued.fanout), "not_found");
    await expectDomainError(() => retryFanout({ db, actor: other.actor }, issued.fanout, {}), "not_found");
    await expectDomainError(() => cancelFanoutRest({ db, actor: other.actor }, issued.fanout), "not_found");
  });
});

describe("retryFanout", () => {
  test("Retry failed issues a linked fan-out to exactly the failed devices still enabled; the others are skipped", async () => {
    const { actor, org, issued, east, fanout } = await setup();
    await disableDevice({ db, actor }, east[2].id);
    const r = await retryFanout({ db, actor }, issued.fanout, {});
    expect(r.tasks.map((t) => t.device).sort()).toEqual([east[0].name, east[1].name]);
    expect(r.skipped).toEqual([{ device: east[2].name, reason: "device is DISABLED" }]);
    const retry = await findFanout(db, org.id, r.fanout);
    expect(retry).toMatchObject({ retryOf: fanout.id, type: "SYNC", total: 2, target: { retry: { of: issued.fanout, statuses: ["FAILED"] } } });
    // Pressed again while the retry is open: nothing is sent twice.
    const again = await expectDomainError(() => retryFanout({ db, actor }, issued.fanout, {}), "unprocessable");
    expect(again.details?.skipped).toEqual(
      expect.arrayContaining([{ device: east[0].name, reason: `already retried in fan-out ${r.fanout}, still open` }]),
    );
    const links = await fanoutCockpit({ db, actor }, issued.fanout);
    expect(links.retries.map((f) => f.code)).toEqual([r.fanout]);
    expect((await fanoutCockpit({ db, actor }, r.fanout)).retryOfCode).toBe(issued.fanout);
  });

  test("Retry failed and expired, and Retry a group, take exactly theirs", async () => {
    const { actor, issued, east, west } = await setup();
    const both = await retryFanout({ db, actor }, issued.fanout, { statuses: ["FAILED", "EXPIRED"] });
    expect(both.tasks.map((t) => t.device).sort()).toEqual([east[0].name, east[1].name, east[2].name, west[2].name].sort());
    // Once that retry is over (cancelled here), its devices may be retried again.
    await cancelFanoutRest({ db, actor }, both.fanout);
    const group = await retryFanout({ db, actor }, issued.fanout, { group: 'Alias[#] "…" references unknown host <ip>' });
    expect(group.tasks.map((t) => t.device).sort()).toEqual([east[0].name, east[1].name]);
  });

  test("refuses what it cannot retry, naming the field, and issues nothing", async () => {
    const { actor, org, issued } = await setup();
    const before = (await db.select({ n: count() }).from(fanouts).where(eq(fanouts.organizationId, org.id)))[0].n;
    const none = await expectDomainError(() => retryFanout({ db, actor }, issued.fanout, { group: "No such failure" }), "unprocessable");
    expect(none.fieldErrors).toHaveProperty("group");
    expect((await expectDomainError(() => retryFanout({ db, actor }, issued.fanout, { statuses: ["COMPLETED"] }), "invalid")).fieldErrors).toHaveProperty(["statuses.0"]);
    expect((await expectDomainError(() => retryFanout({ db, actor }, issued.fanout, { statuses: ["EXPIRED"], group: "x" }), "invalid")).fieldErrors).toHaveProperty("group");
    await expectDomainError(() => retryFanout({ db, actor }, issued.fanout, { extra: 1 }), "invalid");
    expect((await db.select({ n: count() }).from(fanouts).where(eq(fanouts.organizationId, org.id)))[0].n).toBe(before);
  });

  test("a READ_ONLY member may not retry or cancel", async () => {
    const { actor, issued } = await setup();
    const reader = { ...actor, role: "READ_ONLY" as const };
    await expectDomainError(() => retryFanout({ db, actor: reader }, issued.fanout, {}), "forbidden");
    await expectDomainError(() => cancelFanoutRest({ db, actor: reader }, issued.fanout), "forbidden");
  });
});

describe("cancelFanoutRest", () => {
  test("cancels every waiting task in one go with one message, leaves finished ones untouched, and a second press is told there is nothing left", async () => {
    const { actor, issued, fanout } = await setup();
    const finishedBefore = await db.select().from(tasks).where(and(eq(tasks.fanoutId, fanout.id), eq(tasks.status, "FAILED")));
    const { result, events } = await capture(() => cancelFanoutRest({ db, actor }, issued.fanout));
    expect(result).toEqual({ fanout: issued.fanout, cancelled: 2 });
    expect(transitionsOf(events).map((e) => [e.from, e.to])).toEqual([
      ["PENDING", "CANCELLED"],
      ["PENDING", "CANCELLED"],
    ]);
    const cancelled = await db.select().from(tasks).where(and(eq(tasks.fanoutId, fanout.id), eq(tasks.status, "CANCELLED")));
    expect(new Set(cancelled.map((t) => t.message))).toEqual(new Set([`Cancelled with the rest of fan-out ${issued.fanout} by ${actor.label}`]));
    expect(await db.select().from(tasks).where(and(eq(tasks.fanoutId, fanout.id), eq(tasks.status, "FAILED")))).toEqual(finishedBefore);
    // The trail says what was cancelled, counted after the cancel.
    const trail = await db.select({ detail: auditEvents.detail }).from(auditEvents).where(and(eq(auditEvents.action, "fanout.cancel_rest"), eq(auditEvents.targetId, issued.fanout)));
    expect(trail.map((a) => a.detail)).toEqual([{ cancelled: 2 }]);
    const again = await expectDomainError(() => cancelFanoutRest({ db, actor }, issued.fanout), "conflict");
    expect(again.message).toContain("no SCHEDULED or PENDING tasks left");
  });

  test.skipIf(!onPg)("an agent's accept committed while the cancel waits on its task: the trail counts what was cancelled, not what was waiting", async () => {
    const { actor, issued, west, task } = await setup();
    // An acknowledgement batch of another connection holds one of the two PENDING tasks.
    const agent = new pg.Client({ connectionString: (runnerOf(db) as { url: string }).url });
    await agent.connect();
    try {
      await agent.query("BEGIN");
      const at = Date.now();
      const moved = await agent.query("UPDATE tasks SET status = 'IN_PROGRESS', updated_at = $2::bigint, started_at = $2::bigint, lease_expires_at = $2::bigint + 120000 WHERE code = $1 AND status = 'PENDING'", [task(west[3]).code, at]);
      expect(moved.rowCount).toBe(1);
      let settled = false;
      const cancel = cancelFanoutRest({ db, actor }, issued.fanout).finally(() => (settled = true));
      // The cancel's statement waits for that row; then the acknowledgement commits.
      const waiting = async () => Number((await agent.query("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")).rows[0].n);
      while (!settled && (await waiting()) === 0) await new Promise((r) => setTimeout(r, 20));
      expect(settled).toBe(false);
      await agent.query("COMMIT");
      expect((await cancel).cancelled).toBe(1);
    } finally {
      await agent.end();
    }
    const trail = await db.select({ detail: auditEvents.detail }).from(auditEvents).where(and(eq(auditEvents.action, "fanout.cancel_rest"), eq(auditEvents.targetId, issued.fanout)));
    expect(trail.map((a) => a.detail)).toEqual([{ cancelled: 1 }]);
  });

  test("two admins at once: one cancels, the other is told", async () => {
    const { actor, issued } = await setup();
    const results = await Promise.allSettled([cancelFanoutRest({ db, actor }, issued.fanout), cancelFanoutRest({ db, actor }, issued.fanout)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => (r.reason as Error).message);
    expect(refused).toEqual([expect.stringContaining("no SCHEDULED or PENDING tasks left")]);
  });
});

describe("listFanouts", () => {
  test("newest first, filtered by type, outcome and issuer, one organization only", async () => {
    const { actor, org, issued } = await setup();
    const ping = await issueFanout({ db, actor }, { type: "PING", payload: { host: "192.0.2.1" }, targets: { devices: ["west-4"] } });
    const codes = async (filter: object) => (await listFanouts({ db, actor }, { filter })).items.map((f) => f.code);
    expect(await codes({})).toEqual([ping.fanout, issued.fanout]);
    expect(await codes({ type: "PING" })).toEqual([ping.fanout]);
    expect(await codes({ outcome: "running" })).toEqual([ping.fanout, issued.fanout]);
    await cancelFanoutRest({ db, actor }, issued.fanout);
    expect(await codes({ outcome: "completed_with_failures" })).toEqual([issued.fanout]);
    await cancelFanoutRest({ db, actor }, ping.fanout);
    expect(await codes({ outcome: "cancelled" })).toEqual([ping.fanout]);
    expect(await codes({ outcome: "completed" })).toEqual([]);
    expect(await codes({ by: actor.userId })).toEqual([ping.fanout, issued.fanout]);
    expect(await codes({ outcome: "running" })).toEqual([]);
    expect(await codes({ by: "someone-else" })).toEqual([]);
    const page = await listFanouts({ db, actor }, { limit: 1 });
    expect(page.items.map((f) => f.code)).toEqual([ping.fanout]);
    expect(page.hasOlder).toBe(true);
    expect((await listFanouts({ db, actor }, { limit: 1, cursor: { before: page.items[0].id } })).items.map((f) => f.code)).toEqual([issued.fanout]);
    const other = await makeOrg(db);
    expect((await listFanouts({ db, actor: other.actor }, {})).items).toEqual([]);
    await expectDomainError(() => listFanouts({ db, actor }, { filter: { outcome: "exploded" } }), "invalid");
    void org;
  });
});

describe("pauseFanout and resumeFanout", () => {
  test("a paused fan-out's waiting tasks are not handed to their agents, and it says so in its outcome; resuming hands them again", async () => {
    const { actor, issued, east } = await setup();
    const waiting = east[3];
    expect((await pendingForDevices({ db }, [waiting.id])).map((t) => t.code)).toHaveLength(1);
    const { events } = await capture(() => pauseFanout({ db, actor }, issued.fanout));
    expect(events).toEqual([expect.objectContaining({ kind: "fanout.changed", change: "paused" }), { kind: "audit.recorded", organizationId: actor.organizationId }]);
    expect(await pendingForDevices({ db }, [waiting.id])).toEqual([]);
    expect(await getFanout({ db, actor }, issued.fanout)).toMatchObject({ outcome: "paused", pauseReason: `Paused by ${actor.label}` });
    expect((await listFanouts({ db, actor }, { filter: { outcome: "paused" } })).items.map((f) => f.code)).toEqual([issued.fanout]);
    expect((await expectDomainError(() => pauseFanout({ db, actor }, issued.fanout), "conflict")).message).toContain("already paused");
    await resumeFanout({ db, actor }, issued.fanout);
    expect(await pendingForDevices({ db }, [waiting.id])).toHaveLength(1);
    expect((await getFanout({ db, actor }, issued.fanout)).outcome).toBe("running");
    expect((await expectDomainError(() => resumeFanout({ db, actor }, issued.fanout), "conflict")).message).toContain("not paused");
  });

  test("Cancel the rest and Resume at the same moment: each succeeds or is told why, and the fan-out ends cancelled, not paused", async () => {
    const { actor, issued } = await setup();
    await pauseFanout({ db, actor }, issued.fanout);
    const results = await Promise.allSettled([cancelFanoutRest({ db, actor }, issued.fanout), resumeFanout({ db, actor }, issued.fanout)]);
    for (const r of results) if (r.status === "rejected") expect((r.reason as Error).message).toMatch(/has finished; there is nothing left to resume/);
    expect(results[0].status).toBe("fulfilled");
    expect(await getFanout({ db, actor }, issued.fanout)).toMatchObject({ outcome: "completed_with_failures", pausedAt: null });
    expect((await expectDomainError(() => pauseFanout({ db, actor }, issued.fanout), "conflict")).message).toContain("has finished");
  });
});
