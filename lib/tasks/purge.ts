import { fanoutIsOpen } from "./terms";
import { and, asc, eq, inArray, isNull, lt, notExists, sql } from "drizzle-orm";
import { PROCESS_DIALECT } from "../../db/dialect";
import { stepOf, type BatchStep } from "../../db/batch";
import type { Db } from "../../db/client";
import { breathe, writeBatch, type Ctx } from "../../db/transaction";
import { auditEvents, fanouts, orgSettings, purgePermits, scheduleRuns, schedules, tasks } from "../../db/schema";
import { AUDIT_RETENTION_DEFAULT_DAYS, cutoffOf, effectiveTaskDays, PURGE_AUDIT_PER_BATCH, PURGE_RUNS_PER_BATCH, PURGE_TASKS_PER_BATCH } from "../../rules/retention";

// The retention purge: the one way a task or an audit row leaves the database. It deletes, an
// organization at a time and a small batch per transaction, the tasks of fan-outs that
// finished before the organization's retention (whole fan-outs: every task of one is final
// once it has finished; the fan-out's row goes with its last task), the schedules' runs due
// before it whose fan-out is gone (each schedule's latest run stays: its "last run"), and
// audit rows older than the trail's retention. Each batch holds the purge's permit for its
// own transaction only, which is what lets the triggers allow these deletions and no other
// (rules/sql.ts).
// Batches go to the bulk writer (db/batch.ts): on SQLite the deletes, their bookkeeping
// triggers and the commit run off the event loop.

/** Fan-outs whose tasks one batch may take from. */
const FANOUTS_PER_BATCH = 50;
/** Pages given back to the file system per step of SQLite's incremental vacuum. */
const VACUUM_PAGES = 512;

export type PurgeCounts = { tasks: number; fanouts: number; runs: number; audit: number };

/** The batch's permit, taken first and given back last: never committed. */
const permit = (db: Db): [BatchStep, BatchStep] => [stepOf(db.insert(purgePermits).values({ holder: "purge" })), stepOf(db.delete(purgePermits))];

/** How many rows a step with RETURNING gave back. */
const returned = (rows: unknown) => (Array.isArray(rows) ? rows.length : 0);

/**
 * One batch of one organization's finished tasks past `cutoff`: at most PURGE_TASKS_PER_BATCH
 * of them, and the fan-outs left with none. Null when nothing there is past it.
 */
async function purgeTasksOnce(ctx: { db: Db }, organizationId: string, cutoff: Date): Promise<{ tasks: number; fanouts: number } | null> {
  const { db } = ctx;
  const old = await db
    .select({ id: fanouts.id })
    .from(fanouts)
    .where(and(eq(fanouts.organizationId, organizationId), fanoutIsOpen(false), lt(fanouts.finishedAt, cutoff)))
    .orderBy(asc(fanouts.finishedAt))
    .limit(FANOUTS_PER_BATCH);
  if (!old.length) return null;
  const ids = old.map((f) => f.id);
  const [take, give] = permit(db);
  const batch = (await writeBatch(ctx, [
    take,
    {
      ...stepOf(
        db
          .delete(tasks)
          .where(inArray(tasks.id, db.select({ id: tasks.id }).from(tasks).where(inArray(tasks.fanoutId, ids)).limit(PURGE_TASKS_PER_BATCH)))
          .returning({ id: tasks.id }),
      ),
      all: true,
    },
    {
      ...stepOf(
        db
          .delete(fanouts)
          .where(and(inArray(fanouts.id, ids), fanoutIsOpen(false), notExists(db.select({ one: sql`1` }).from(tasks).where(eq(tasks.fanoutId, fanouts.id)))))
          .returning({ id: fanouts.id }),
      ),
      all: true,
    },
    give,
  ])) as unknown[];
  return { tasks: returned(batch[1]), fanouts: returned(batch[2]) };
}

/**
 * One batch of an organization's schedule runs due before `cutoff` whose fan-out is gone (the
 * purge took it, which unlinked the run) or never was (a run skipped or failed), but for each
 * schedule's latest run (a yearly schedule's may be older than a month's retention). A run
 * whose fan-out is kept stays with it: a paused rollout, tasks still waiting out their time.
 * In no order: each schedule's old runs are a range of its (schedule, due) index, and the
 * batch stops at its size. The clock never looks back at runs this old: a due time comes
 * from now forward, and a missed one is never older than the latest run.
 */
async function purgeRunsOnce(ctx: { db: Db }, organizationId: string, cutoff: Date): Promise<number> {
  const { db } = ctx;
  const latest = sql`(select max(r2.due_at) from ${scheduleRuns} r2 where r2.schedule_id = ${scheduleRuns.scheduleId})`;
  const old = db
    .select({ id: scheduleRuns.id })
    .from(scheduleRuns)
    .innerJoin(schedules, eq(schedules.id, scheduleRuns.scheduleId))
    .where(and(eq(schedules.organizationId, organizationId), lt(scheduleRuns.dueAt, cutoff), isNull(scheduleRuns.fanoutId), lt(scheduleRuns.dueAt, latest)))
    .limit(PURGE_RUNS_PER_BATCH);
  const [deleted] = (await writeBatch(ctx, [{ ...stepOf(db.delete(scheduleRuns).where(inArray(scheduleRuns.id, old)).returning({ id: scheduleRuns.id })), all: true }])) as unknown[];
  return returned(deleted);
}

/** One batch of an organization's audit rows (or, with null, the rows of no organization) older than `cutoff`. */
async function purgeAuditOnce(ctx: { db: Db }, organizationId: string | null, cutoff: Date): Promise<number> {
  const { db } = ctx;
  const whose = organizationId === null ? isNull(auditEvents.organizationId) : eq(auditEvents.organizationId, organizationId);
  const [take, give] = permit(db);
  const batch = (await writeBatch(ctx, [
    take,
    {
      ...stepOf(
        db
          .delete(auditEvents)
          .where(inArray(auditEvents.id, db.select({ id: auditEvents.id }).from(auditEvents).where(and(lt(auditEvents.at, cutoff), whose)).orderBy(asc(auditEvents.at)).limit(PURGE_AUDIT_PER_BATCH)))
          .returning({ id: auditEvents.id }),
      ),
      all: true,
    },
    give,
  ])) as unknown[];
  return returned(batch[1]);
}

/** Runs `batch` until one deletes fewer than `size` rows (or `shouldStop` says so), a turn of the loop between them; the rows deleted. */
async function untilShort(batch: () => Promise<number>, size: number, shouldStop?: () => boolean): Promise<number> {
  let total = 0;
  while (!shouldStop?.()) {
    const n = await batch();
    total += n;
    if (n < size) break;
    await breathe();
  }
  return total;
}

/**
 * Purges everything past its retention, batch after batch with a turn of the event loop
 * between them, until nothing is left or `shouldStop` says so. Returns what it deleted.
 */
export async function purgeExpired(ctx: Ctx & { db: Db }, opts: { now?: Date; ceilingDays?: number | null; shouldStop?: () => boolean } = {}): Promise<PurgeCounts> {
  const now = opts.now ?? new Date();
  const total: PurgeCounts = { tasks: 0, fanouts: 0, runs: 0, audit: 0 };
  const settings = await ctx.db
    .select({ organizationId: orgSettings.organizationId, taskDays: orgSettings.taskRetentionDays, auditDays: orgSettings.auditRetentionDays })
    .from(orgSettings);
  for (const org of settings) {
    const taskCutoff = cutoffOf(effectiveTaskDays(org.taskDays, opts.ceilingDays ?? null), now);
    while (taskCutoff && !opts.shouldStop?.()) {
      const done = await purgeTasksOnce(ctx, org.organizationId, taskCutoff);
      if (!done) break;
      total.tasks += done.tasks;
      total.fanouts += done.fanouts;
      await breathe();
    }
    if (taskCutoff) total.runs += await untilShort(() => purgeRunsOnce(ctx, org.organizationId, taskCutoff), PURGE_RUNS_PER_BATCH, opts.shouldStop);
    const auditCutoff = cutoffOf(org.auditDays, now)!;
    total.audit += await untilShort(() => purgeAuditOnce(ctx, org.organizationId, auditCutoff), PURGE_AUDIT_PER_BATCH, opts.shouldStop);
  }
  // Failed sign-ins of emails no one has here belong to no organization: the default applies.
  const strayCutoff = cutoffOf(AUDIT_RETENTION_DEFAULT_DAYS, now)!;
  total.audit += await untilShort(() => purgeAuditOnce(ctx, null, strayCutoff), PURGE_AUDIT_PER_BATCH, opts.shouldStop);
  if (total.tasks + total.runs + total.audit > 0) await giveSpaceBack(ctx);
  return total;
}

/**
 * SQLite: the pages the purge freed go back to the file system, a few hundred per step (a
 * file made before incremental vacuum keeps them for its next rows instead). PostgreSQL's
 * autovacuum does this on its own.
 */
async function giveSpaceBack(ctx: { db: Db }): Promise<void> {
  if (PROCESS_DIALECT === "pg") return;
  const [mode] = (await writeBatch(ctx, [{ sql: `PRAGMA auto_vacuum`, params: [], all: true }])) as unknown[][][];
  if (mode?.[0]?.[0] !== 2) return;
  for (let i = 0; i < 10_000; i++) {
    const [rows] = (await writeBatch(ctx, [{ sql: `PRAGMA freelist_count`, params: [], all: true }])) as unknown[][][];
    if (!rows?.[0]?.[0]) return;
    await writeBatch(ctx, [{ sql: `PRAGMA incremental_vacuum(${VACUUM_PAGES})`, params: [] }]);
    await breathe();
  }
}
