import { fanoutIsOpen, statusIs } from "./terms";
import { and, eq, isNotNull, isNull, sql } from "drizzle-orm";
import type { DbOrTx } from "../../db/client";
import { changedRows } from "../../db/portable";
import { withTransaction, writeBatch, type Ctx } from "../../db/transaction";
import { fanouts, tasks, type RolloutPlan } from "../../db/schema";
import { breakerReason, breakerTrips, nextWaveAt, waveState, type BreakerTally } from "../../rules/rollouts";
import { OPEN_STATUSES } from "../../rules/tasks";
import { ConflictError } from "../errors";
import { publish, publishInTurns } from "../events";
import { requireRole, type Actor, type ActorCtx } from "../actor";
import { recordAudit } from "../audit/record";
import { findFanout } from "./fanout-queries";
import { eventsOfRows, releaseWaveStep } from "./transition";

// The driver of staged rollouts (rules/rollouts.ts): one step looks at a rollout's row and
// does the one thing due, if any: trip the breaker, release waiting tasks of the open wave
// (as room in flight allows), note that the wave has finished, or open the next. Every step
// is guarded by the row's own state, so any node may run it for any fan-out at any moment,
// any number of times: of two at once, one acts and the other finds nothing to do. The
// server runs it after its tasks finish and on a sweep (lib/server/rollouts.ts).
//
// A step never updates the fan-out's row and its tasks in one transaction: the tasks'
// commit trigger locks the fan-out rows after the counters (rules/sql.ts), and a transaction
// that took a fan-out row first could deadlock with an agent's result batch on PostgreSQL.

type RolloutRow = {
  id: number;
  organizationId: string;
  code: string;
  total: number;
  openTasks: number;
  failedTasks: number;
  expiredTasks: number;
  cancelledTasks: number;
  createdAt: Date;
  pausedAt: Date | null;
  rollout: RolloutPlan | null;
  ttlSeconds: number | null;
  wave: number | null;
  waveOpenedAt: Date | null;
  waveFinishedAt: Date | null;
  breakerFinishedBase: number;
  breakerFailedBase: number;
};

const ROW = {
  id: fanouts.id,
  organizationId: fanouts.organizationId,
  code: fanouts.code,
  total: fanouts.total,
  openTasks: fanouts.openTasks,
  failedTasks: fanouts.failedTasks,
  expiredTasks: fanouts.expiredTasks,
  cancelledTasks: fanouts.cancelledTasks,
  createdAt: fanouts.createdAt,
  pausedAt: fanouts.pausedAt,
  rollout: fanouts.rollout,
  ttlSeconds: fanouts.ttlSeconds,
  wave: fanouts.wave,
  waveOpenedAt: fanouts.waveOpenedAt,
  waveFinishedAt: fanouts.waveFinishedAt,
  breakerFinishedBase: fanouts.breakerFinishedBase,
  breakerFailedBase: fanouts.breakerFailedBase,
};

async function rolloutRow(h: DbOrTx, fanoutId: number): Promise<RolloutRow | undefined> {
  const [row] = await h.select(ROW).from(fanouts).where(eq(fanouts.id, fanoutId)).limit(1);
  return row as RolloutRow | undefined;
}

/** The tasks that ran (COMPLETED or FAILED), and of them FAILED, since the fan-out was last resumed: what the breaker weighs. */
export function breakerTally(r: Pick<RolloutRow, "total" | "openTasks" | "failedTasks" | "expiredTasks" | "cancelledTasks" | "breakerFinishedBase" | "breakerFailedBase">): BreakerTally {
  const ran = r.total - r.openTasks - r.expiredTasks - r.cancelledTasks;
  return { finished: ran - r.breakerFinishedBase, failed: r.failedTasks - r.breakerFailedBase };
}

/** The breaker's counts as they stand, written as its new starting point: SQL for the resume's UPDATE. */
export const BREAKER_BASE_NOW = {
  breakerFinishedBase: sql`${fanouts.total} - ${fanouts.openTasks} - ${fanouts.expiredTasks} - ${fanouts.cancelledTasks}`,
  breakerFailedBase: sql`${fanouts.failedTasks}`,
};

/** What a step did. */
export type RolloutStep = "none" | "not-rollout" | "tripped" | "released" | "wave-finished" | "opened";

/** Whether any task of the wave is still open. */
async function waveOpen(h: DbOrTx, fanoutId: number, wave: number): Promise<boolean> {
  const [row] = await h
    .select({ one: sql`1` })
    .from(tasks)
    .where(and(eq(tasks.fanoutId, fanoutId), eq(tasks.wave, wave), statusIs(...OPEN_STATUSES)))
    .limit(1);
  return !!row;
}

/** Releases what the open wave has room for; returns how many. */
async function release(ctx: Ctx, r: RolloutRow, now: Date): Promise<number> {
  const at = now.getTime();
  const step = releaseWaveStep({ fanoutId: r.id, wave: r.wave!, maxInFlight: r.rollout!.maxInFlight, at, expiresAt: at + (r.ttlSeconds ?? 0) * 1000 });
  const [rows] = (await writeBatch(ctx, [step])) as unknown[][][];
  const events = eventsOfRows(rows, "SCHEDULED");
  await publishInTurns(events);
  return events.length;
}

/**
 * The one write of a pause, a person's or the breaker's: the row stops still open and not
 * paused, else nothing changes (a fan-out whose last task just finished is not stored paused).
 * The rows it moved: 0 or 1.
 */
export async function pauseRow(tx: DbOrTx, fanoutId: number, reason: string, at: Date): Promise<number> {
  return changedRows(await tx.update(fanouts).set({ pausedAt: at, pauseReason: reason }).where(and(eq(fanouts.id, fanoutId), isNull(fanouts.pausedAt), fanoutIsOpen(true))));
}

const waveChanged = (r: RolloutRow) => publish([{ kind: "fanout.changed", organizationId: r.organizationId, fanoutId: r.id, change: "wave" }]);

/** Opens the wave after the open one, if the row is still as read; true if this call opened it. */
async function openNext(ctx: Ctx, r: RolloutRow, now: Date, by?: { actor: Actor; code: string }): Promise<boolean> {
  const opened = await withTransaction(ctx, async (tx) => {
    const n = changedRows(
      await tx
        .update(fanouts)
        .set({ wave: r.wave! + 1, waveOpenedAt: now, waveFinishedAt: null })
        .where(and(eq(fanouts.id, r.id), eq(fanouts.wave, r.wave!), isNotNull(fanouts.waveFinishedAt), isNull(fanouts.pausedAt), fanoutIsOpen(true))),
    );
    // A person's Continue is in the audit trail; the driver's own steps are not.
    const audited = n && by ? await recordAudit(tx, by.actor, { action: "fanout.continue", target: { type: "fanout", id: by.code }, detail: { wave: r.wave! + 1, waves: r.rollout!.sizes.length } }, now) : [];
    return { n, audited };
  });
  if (opened.n) waveChanged(r);
  publish(opened.audited);
  return opened.n === 1;
}

/**
 * A rollout issued for a later time whose time has not come: its first wave opens then (not
 * one issued for now, whose opening another node's clock may read a little ahead).
 */
const notYetOpen = (r: RolloutRow, now: Date) => r.wave === 1 && r.waveOpenedAt !== null && r.waveOpenedAt.getTime() > Math.max(r.createdAt.getTime(), now.getTime());

/**
 * One step of a rollout (see above). Runs at most a few actions in a row (a wave that
 * finished opens the next at once when nothing is to wait between them).
 */
export async function advanceRollout(ctx: Ctx, fanoutId: number, now = new Date()): Promise<RolloutStep> {
  let did: RolloutStep = "none";
  for (let i = 0; i < 4; i++) {
    const r = await rolloutRow(ctx.db, fanoutId);
    if (!r || !r.rollout || r.wave === null) return "not-rollout";
    // A rollout scheduled for later opens its first wave then (the time it was issued for),
    // whatever became of its tasks meanwhile (its timed ones cancelled, their devices
    // disabled): nothing goes before.
    if (r.openTasks === 0 || r.pausedAt || notYetOpen(r, now)) return did;
    const policy = r.rollout;
    const tally = breakerTally(r);
    if (policy.breaker && breakerTrips(policy.breaker, tally)) {
      const tripped = await withTransaction(ctx, (tx) => pauseRow(tx, r.id, breakerReason(policy.breaker!, tally), now));
      if (tripped) publish([{ kind: "fanout.changed", organizationId: r.organizationId, fanoutId: r.id, change: "paused" }]);
      return tripped ? "tripped" : did;
    }
    if (!r.waveFinishedAt) {
      if ((await release(ctx, r, now)) > 0) return "released";
      if (await waveOpen(ctx.db, r.id, r.wave)) return did;
      const finished = await withTransaction(ctx, async (tx) =>
        changedRows(await tx.update(fanouts).set({ waveFinishedAt: now }).where(and(eq(fanouts.id, r.id), eq(fanouts.wave, r.wave!), isNull(fanouts.waveFinishedAt)))),
      );
      if (!finished) return did;
      waveChanged(r);
      did = "wave-finished";
      continue;
    }
    const due = nextWaveAt({ wave: r.wave, waves: policy.sizes.length, waveFinishedAt: r.waveFinishedAt }, policy.between);
    if (!due || due.getTime() > now.getTime() || !(await openNext(ctx, r, now))) return did;
    did = "opened";
  }
  return did;
}

/**
 * Continue: opens the next wave of a rollout whose open wave has finished, now, whether it
 * waits for Continue or for the end of its pause. Anything else is refused, saying why.
 */
export async function continueFanout(ctx: ActorCtx, rawCode: unknown, now = new Date()): Promise<{ fanout: string; wave: number }> {
  requireRole(ctx.actor, "READ_WRITE");
  const source = await findFanout(ctx.db, ctx.actor.organizationId, rawCode);
  const r = await rolloutRow(ctx.db, source.id);
  if (!r?.rollout || r.wave === null) throw new ConflictError(`Fan-out ${source.code} was issued all at once; it waits for nothing to continue`);
  if (r.openTasks === 0) throw new ConflictError(`Fan-out ${source.code} has finished; it waits for nothing to continue`);
  if (r.pausedAt) throw new ConflictError(`Fan-out ${source.code} is paused; resume it to go on`);
  const state = waveState({ wave: r.wave, waves: r.rollout.sizes.length, waveFinishedAt: r.waveFinishedAt }, r.rollout.between);
  if (state === "done" || r.wave >= r.rollout.sizes.length) throw new ConflictError(`Fan-out ${source.code} has opened its last wave; it waits for nothing to continue`);
  if (state === "running") throw new ConflictError(`Wave ${r.wave} of ${r.rollout.sizes.length} of fan-out ${source.code} is still running; it waits for nothing to continue`);
  if (!(await openNext(ctx, r, now, { actor: ctx.actor, code: source.code }))) throw new ConflictError(`Fan-out ${source.code} changed meanwhile (someone else continued, paused or cancelled it); look again`);
  await advanceRollout(ctx, r.id, now);
  return { fanout: source.code, wave: r.wave + 1 };
}
