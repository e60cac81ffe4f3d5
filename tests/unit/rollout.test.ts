// Staged rollouts on a real database: the policy's rules, the waves as written, and the
// driver's steps (release, wave finished, next wave, breaker), Continue, Pause and Resume.
import { and, asc, count, eq } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { fanouts, tasks } from "../../db/schema";
import { recordAgentMoves } from "../../lib/tasks/agent-verbs";
import { findFanout } from "../../lib/tasks/fanout-queries";
import { cancelFanoutRest, pauseFanout, resumeFanout, retryFanout } from "../../lib/tasks/fanout-verbs";
import { releaseWaveStep } from "../../lib/tasks/transition";
import { issueFanout } from "../../lib/tasks/issue";
import { advanceRollout, continueFanout, pauseRow } from "../../lib/tasks/rollout";
import { withTransaction, writeBatch } from "../../db/transaction";
import { rolloutSchema } from "../../lib/tasks/schemas";
import { breakerTrips, planWaves, policyProblems, ROLLOUT_PRESET_POLICIES, waveProgress, type RolloutPolicy } from "../../rules/rollouts";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { expectDomainError, taskByCode } from "./helpers";
import { cancelTask, rerunTask } from "../../lib/tasks/verbs";

const db = await freshDb();

const policy = (p: Partial<RolloutPolicy>): RolloutPolicy => ({ canary: null, waves: [{ percent: 100 }], maxInFlight: null, between: { kind: "now" }, breaker: null, ...p });

describe("the rules", () => {
  test("waves: the canary, then the listed sizes, the last repeating; every device in exactly one", () => {
    expect(planWaves(ROLLOUT_PRESET_POLICIES.careful!, 250)).toEqual([1, 13, 63, 173]);
    expect(planWaves(ROLLOUT_PRESET_POLICIES.canary!, 250)).toEqual([1, 25, 25, 25, 25, 25, 25, 25, 25, 25, 24]);
    expect(planWaves(ROLLOUT_PRESET_POLICIES.careful!, 1)).toEqual([1]);
    expect(planWaves(policy({ waves: [{ count: 3 }] }), 7)).toEqual([3, 3, 1]);
    for (const total of [1, 2, 19, 250, 100_000]) expect(planWaves(ROLLOUT_PRESET_POLICIES.canary!, total).reduce((a, b) => a + b, 0)).toBe(total);
  });

  test("the breaker trips on more than its share, once enough ran", () => {
    const b = { failedPercent: 5, minFinished: 1 };
    expect(breakerTrips(b, { finished: 1, failed: 1 })).toBe(true);
    expect(breakerTrips(b, { finished: 20, failed: 1 })).toBe(false); // exactly 5%: not more
    expect(breakerTrips(b, { finished: 19, failed: 1 })).toBe(true);
    expect(breakerTrips({ failedPercent: 50, minFinished: 10 }, { finished: 9, failed: 9 })).toBe(false);
  });

  test("each wave's progress: those before the open one done, the open one until its end is recorded, the rest waiting", () => {
    const open = { wave: 2, waveFinishedAt: null };
    expect([1, 2, 3].map((n) => waveProgress(n, open))).toEqual(["done", "open", "waiting"]);
    const ended = { wave: 2, waveFinishedAt: new Date() };
    expect([1, 2, 3].map((n) => waveProgress(n, ended))).toEqual(["done", "done", "waiting"]);
  });

  test("a policy that does not add up is refused naming the field", () => {
    const issues = (v: unknown) => {
      const r = rolloutSchema.safeParse(v);
      return r.success ? [] : r.error.issues.map((i) => [i.path.join("."), i.message]);
    };
    expect(issues({ canary: "150%" })).toEqual([["canary", "The canary: a percentage is between 1 and 100"]]);
    expect(issues({ waves: ["5%", "0%"] })).toEqual([["waves.1", "A wave: a percentage is between 1 and 100"]]);
    expect(issues({ breaker: { failed_percent: 5, min_finished: 0 } })).toEqual([["breaker.min_finished", "The breaker waits for at least 1 finished task"]]);
    expect(issues({ max_in_flight: 0 })).toEqual([["max_in_flight", "At most in flight is at least 1 task"]]);
    expect(issues({ between_waves: "later" })[0][1]).toMatch(/Between waves is/);
    expect(issues("reckless")[0][1]).toMatch(/preset is one of/);
    expect(issues({ canary: 1, surprise: true })[0][0]).toBe("");
    expect(policyProblems(policy({ canary: { count: 300 } }), 250)).toEqual({ "rollout.canary": "The canary: 300 devices is more than the target's 250" });
    expect(policyProblems(policy({ waves: [{ count: 1 }] }), 100_000)!["rollout.waves"]).toMatch(/more than 500 waves/);
  });
});

async function fleet(n: number) {
  const { org, actor } = await makeOrg(db);
  const devices = await makeDevices(db, org.id, n);
  return { org, actor, devices };
}

/** The fan-out's tasks by wave and status, in id order. */
async function waves(fanoutId: number) {
  const rows = await db
    .select({ wave: tasks.wave, status: tasks.status, n: count() })
    .from(tasks)
    .where(eq(tasks.fanoutId, fanoutId))
    .groupBy(tasks.wave, tasks.status)
    .orderBy(asc(tasks.wave), asc(tasks.status));
  return rows.map((r) => `${r.wave}:${r.status}:${r.n}`);
}

/** Agents start and finish every PENDING task of the fan-out: FAILED for the devices named, COMPLETED for the others. */
async function runPending(fanoutId: number, failing: Set<string> = new Set()) {
  const pending = await db.select({ code: tasks.code, deviceId: tasks.deviceId }).from(tasks).where(and(eq(tasks.fanoutId, fanoutId), eq(tasks.status, "PENDING")));
  await recordAgentMoves({ db }, pending, []);
  await recordAgentMoves(
    { db },
    [],
    pending.map((t) => ({ deviceId: t.deviceId, raw: { code: t.code, status: failing.has(t.deviceId) ? "FAILED" : "COMPLETED", message: failing.has(t.deviceId) ? "Disk full" : "ok" } })),
  );
  return pending.length;
}

describe("a rollout as issued", () => {
  test("writes every task at once: the first wave PENDING, the others SCHEDULED with no time and their wave", async () => {
    const { actor } = await fleet(20);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, rollout: "careful" });
    expect(issued.total).toBe(20);
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    expect(await waves(f.id)).toEqual(["1:PENDING:1", "2:SCHEDULED:1", "3:SCHEDULED:5", "4:SCHEDULED:13"]);
    const waiting = await db.select({ scheduledAt: tasks.scheduledAt }).from(tasks).where(and(eq(tasks.fanoutId, f.id), eq(tasks.status, "SCHEDULED")));
    expect(waiting.every((t) => t.scheduledAt === null)).toBe(true);
    const [row] = await db.select({ rollout: fanouts.rollout, wave: fanouts.wave, ttl: fanouts.ttlSeconds }).from(fanouts).where(eq(fanouts.id, f.id));
    expect(row).toMatchObject({ wave: 1, ttl: 86_400, rollout: { sizes: [1, 1, 5, 13] } });
    // Nothing to do while the canary runs.
    expect(await advanceRollout({ db }, f.id)).toBe("none");
  });

  test("a canary larger than the target is refused, naming the field, and nothing is written", async () => {
    const { actor } = await fleet(3);
    expect((await expectDomainError(() => issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, rollout: { canary: 5 } }), "unprocessable")).message).toMatch(/^The canary: 5 devices is more than the target's 3$/);
    const [n] = await db.select({ n: count() }).from(fanouts).where(eq(fanouts.organizationId, actor.organizationId));
    expect(n.n).toBe(0);
  });
});

describe("the driver", () => {
  test("opens each wave once the one before has finished, its tasks' expiry counted from then", async () => {
    const { actor } = await fleet(10);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, ttlSeconds: 600, rollout: { canary: 1, waves: "50%" } });
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    expect(await runPending(f.id)).toBe(1);
    const later = new Date(Date.now() + 60_000);
    expect(await advanceRollout({ db }, f.id, later)).toBe("released");
    expect(await waves(f.id)).toEqual(["1:COMPLETED:1", "2:PENDING:5", "3:SCHEDULED:4"]);
    const released = await db.select({ expiresAt: tasks.expiresAt }).from(tasks).where(and(eq(tasks.fanoutId, f.id), eq(tasks.wave, 2)));
    expect(released.every((t) => t.expiresAt.getTime() === later.getTime() + 600_000)).toBe(true);
    expect(await runPending(f.id)).toBe(5);
    expect(await advanceRollout({ db }, f.id)).toBe("released");
    expect(await runPending(f.id)).toBe(4);
    expect(await advanceRollout({ db }, f.id)).toBe("none");
    expect(await waves(f.id)).toEqual(["1:COMPLETED:1", "2:COMPLETED:5", "3:COMPLETED:4"]);
    // A re-run of a task that waited for its wave lives as long as the fan-out's tasks do once
    // released: 600 s, not those and the 60 s it waited.
    const [waited] = await db.select({ code: tasks.code }).from(tasks).where(and(eq(tasks.fanoutId, f.id), eq(tasks.wave, 2))).limit(1);
    const rerun = await taskByCode(db, (await rerunTask({ db, actor }, waited.code)).tasks[0].code);
    expect(rerun.expiresAt.getTime() - rerun.createdAt.getTime()).toBe(600_000);
  });

  test("a rollout scheduled for later waits for its time, even once its first wave's timed task is cancelled", async () => {
    const { actor } = await fleet(10);
    const at = new Date(Date.now() + 3_600_000);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, scheduledAt: at, rollout: { canary: 1, waves: "50%" } });
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    const [canary] = await db.select({ code: tasks.code }).from(tasks).where(and(eq(tasks.fanoutId, f.id), eq(tasks.wave, 1)));
    await cancelTask({ db, actor }, canary.code);
    // Nothing of it goes before its time: not the next wave, for want of a first.
    expect(await advanceRollout({ db }, f.id)).toBe("none");
    expect(await waves(f.id)).toEqual(["1:CANCELLED:1", "2:SCHEDULED:5", "3:SCHEDULED:4"]);
    // At its time, the first wave (cancelled) is over, and the next opens.
    expect(await advanceRollout({ db }, f.id, new Date(at.getTime() + 1_000))).toBe("released");
    expect(await waves(f.id)).toEqual(["1:CANCELLED:1", "2:PENDING:5", "3:SCHEDULED:4"]);
  });

  test("a retry of a rollout is staged as it was, fitted to the devices retried, its breaker included", async () => {
    const { actor, devices } = await fleet(10);
    const policy = { canary: 2, waves: "50%", max_in_flight: 3, breaker: { failed_percent: 10, min_finished: 8 } };
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, rollout: policy });
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    // Its canary fails, and its breaker, waiting for 8 finished, lets the next wave go: it fails too.
    const failing = new Set(devices.map((d) => d.id));
    expect(await runPending(f.id, failing)).toBe(2);
    expect(await advanceRollout({ db }, f.id)).toBe("released");
    expect(await runPending(f.id, failing)).toBe(3);
    await cancelFanoutRest({ db, actor }, f.code);

    const retry = await retryFanout({ db, actor }, f.code, {});
    expect(retry.total).toBe(5);
    const r = await findFanout(db, actor.organizationId, retry.fanout);
    // Staged as before: a canary of two, at most three in flight; the breaker waits for no
    // more finished tasks than the retry has.
    expect(r.rollout).toMatchObject({ canary: { count: 2 }, maxInFlight: 3, breaker: { failedPercent: 10, minFinished: 5 }, sizes: [2, 3] });
    expect(await waves(r.id)).toEqual(["1:PENDING:2", "2:SCHEDULED:3"]);
  });

  test("keeps at most max_in_flight tasks out, topping up as they finish", async () => {
    const { actor } = await fleet(7);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, rollout: { max_in_flight: 3 } });
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    expect(await waves(f.id)).toEqual(["1:PENDING:3", "1:SCHEDULED:4"]);
    expect(await advanceRollout({ db }, f.id)).toBe("none");
    await runPending(f.id);
    expect(await advanceRollout({ db }, f.id)).toBe("released");
    expect(await waves(f.id)).toEqual(["1:COMPLETED:3", "1:PENDING:3", "1:SCHEDULED:1"]);
  });

  test("a release that read the fan-out before a pause committed releases nothing", async () => {
    const { actor } = await fleet(5);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, rollout: { max_in_flight: 2 } });
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    await runPending(f.id);
    await pauseFanout({ db, actor }, issued.fanout);
    // The step a rollout's read of the unpaused row would have queued.
    const at = Date.now();
    const [rows] = (await writeBatch({ db }, [releaseWaveStep({ fanoutId: f.id, wave: 1, maxInFlight: 2, at, expiresAt: at + 3_600_000 })])) as unknown[][][];
    expect(rows).toEqual([]);
    expect(await waves(f.id)).toEqual(["1:COMPLETED:2", "1:SCHEDULED:3"]);
    await resumeFanout({ db, actor }, issued.fanout);
    expect(await advanceRollout({ db }, f.id)).toBe("released");
    expect(await waves(f.id)).toEqual(["1:COMPLETED:2", "1:PENDING:2", "1:SCHEDULED:1"]);
  });

  test("a scheduled rollout releases nothing before its time, max_in_flight or not", async () => {
    const { actor } = await fleet(4);
    const at = new Date(Date.now() + 3_600_000);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, scheduledAt: at, rollout: { max_in_flight: 2 } });
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    const timed = await db.select({ n: count() }).from(tasks).where(and(eq(tasks.fanoutId, f.id), eq(tasks.scheduledAt, at)));
    expect(timed[0].n).toBe(2);
    expect(await advanceRollout({ db }, f.id)).toBe("none");
    expect(await waves(f.id)).toEqual(["1:SCHEDULED:4"]);
  });

  test("waits for Continue between waves; Continue is refused while a wave runs or when nothing waits", async () => {
    const { actor } = await fleet(4);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, rollout: { canary: 1, waves: "rest", between_waves: "continue" } });
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    expect((await expectDomainError(() => continueFanout({ db, actor }, issued.fanout), "conflict")).message).toMatch(/Wave 1 of 2 .* is still running/);
    await runPending(f.id);
    expect(await advanceRollout({ db }, f.id)).toBe("wave-finished");
    expect(await advanceRollout({ db }, f.id)).toBe("none");
    expect(await waves(f.id)).toEqual(["1:COMPLETED:1", "2:SCHEDULED:3"]);
    expect(await continueFanout({ db, actor }, issued.fanout)).toEqual({ fanout: issued.fanout, wave: 2 });
    expect(await waves(f.id)).toEqual(["1:COMPLETED:1", "2:PENDING:3"]);
    expect((await expectDomainError(() => continueFanout({ db, actor }, issued.fanout), "conflict")).message).toMatch(/last wave/);
    const plain = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } });
    expect((await expectDomainError(() => continueFanout({ db, actor }, plain.fanout), "conflict")).message).toMatch(/issued all at once; it waits for nothing/);
  });

  test("waits out a timed pause between waves", async () => {
    const { actor } = await fleet(3);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, rollout: { canary: 1, between_waves: { pause_minutes: 10 } } });
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    await runPending(f.id);
    const t0 = new Date();
    expect(await advanceRollout({ db }, f.id, t0)).toBe("wave-finished");
    expect(await advanceRollout({ db }, f.id, new Date(t0.getTime() + 9 * 60_000))).toBe("none");
    // It opens the next wave and releases it.
    expect(await advanceRollout({ db }, f.id, new Date(t0.getTime() + 10 * 60_000))).toBe("released");
    expect(await waves(f.id)).toEqual(["1:COMPLETED:1", "2:PENDING:2"]);
  });

  test("a canary that fails trips the breaker: the fan-out pauses saying why, later waves stay waiting; Resume goes on", async () => {
    const { actor, devices } = await fleet(20);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, rollout: "careful" });
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    await runPending(f.id, new Set(devices.map((d) => d.id)));
    expect(await advanceRollout({ db }, f.id)).toBe("tripped");
    const [row] = await db.select({ pausedAt: fanouts.pausedAt, reason: fanouts.pauseReason }).from(fanouts).where(eq(fanouts.id, f.id));
    expect(row.pausedAt).toBeInstanceOf(Date);
    expect(row.reason).toBe("Stopped by its breaker: 1 of 1 finished tasks failed, more than 5%");
    expect(await advanceRollout({ db }, f.id)).toBe("none");
    expect(await waves(f.id)).toEqual(["1:FAILED:1", "2:SCHEDULED:1", "3:SCHEDULED:5", "4:SCHEDULED:13"]);
    await resumeFanout({ db, actor }, issued.fanout);
    // The breaker counts from the resume: the canary's failure was seen.
    for (let wave = 2; wave <= 4; wave++) {
      expect(await advanceRollout({ db }, f.id)).toBe("released");
      await runPending(f.id);
    }
    expect(await advanceRollout({ db }, f.id)).toBe("none");
    expect(await waves(f.id)).toEqual(["1:FAILED:1", "2:COMPLETED:1", "3:COMPLETED:5", "4:COMPLETED:13"]);
  });

  test("a pause lands on an open fan-out only: the breaker's write refuses one whose last task finished after its read", async () => {
    const { actor } = await fleet(2);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } });
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    await runPending(f.id);
    // The breaker read the row while a task was open; by its write, none is.
    expect(await withTransaction({ db }, (tx) => pauseRow(tx, f.id, "Stopped by its breaker", new Date()))).toBe(0);
    const [row] = await db.select({ pausedAt: fanouts.pausedAt, reason: fanouts.pauseReason }).from(fanouts).where(eq(fanouts.id, f.id));
    expect(row).toEqual({ pausedAt: null, reason: null });
    await expectDomainError(() => resumeFanout({ db, actor }, issued.fanout), "conflict");
  });

  test("Cancel the rest ends the waiting waves too", async () => {
    const { actor } = await fleet(5);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true }, rollout: "canary" });
    const f = await findFanout(db, actor.organizationId, issued.fanout);
    expect((await cancelFanoutRest({ db, actor }, issued.fanout)).cancelled).toBe(5);
    expect(await waves(f.id)).toEqual(["1:CANCELLED:1", "2:CANCELLED:1", "3:CANCELLED:1", "4:CANCELLED:1", "5:CANCELLED:1"]);
    expect(await advanceRollout({ db }, f.id)).toBe("none");
  });
});
