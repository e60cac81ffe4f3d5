import { statusIs } from "./terms";
import { changedRows, claimed } from "../../db/portable";
import { and, asc, eq, gt, inArray, lt, lte, sql } from "drizzle-orm";
import type { Tx } from "../../db/client";
import { withTransaction, type Ctx } from "../../db/transaction";
import { tasks } from "../../db/schema";
import { LEASE_MINUTES, TASK_TYPES, TTL_SECONDS, type TaskStatus } from "../../rules/tasks";
import type { TaskTransition } from "../events";
import { transitionTasks } from "./transition";

// What time does to tasks: scheduled ones fall due, waiting ones expire, running ones run
// out of lease. Each step moves at most `batch` rows in one short transaction, so a
// million tasks coming due at once never hold the event loop for long.

export const EXPIRED_MESSAGE = "Device did not pick the task up before it expired";
export const leaseMessage = (minutes: number) => `No result from the agent within ${minutes} minutes`;

type DueColumn = typeof tasks.scheduledAt | typeof tasks.expiresAt | typeof tasks.leaseExpiresAt;

async function due(tx: Tx, status: TaskStatus, column: DueColumn, now: Date, batch: number, extra?: ReturnType<typeof eq>): Promise<number[]> {
  // Every node runs the clock: each claims its batch, and none waits on another's.
  const rows = await claimed(
    tx,
    tx
      .select({ id: tasks.id })
      .from(tasks)
      .where(and(statusIs(status), lte(column, now), extra))
      .orderBy(asc(column))
      .limit(batch),
  );
  return rows.map((r) => r.id);
}

/** One batch of the clock's work; `more` says whether another batch is waiting. */
export async function runDueBatch(ctx: Ctx, now: Date, batch = 500): Promise<{ events: TaskTransition[]; more: boolean }> {
  return withTransaction(ctx, async (tx) => {
    const events: TaskTransition[] = [];
    let more = false;
    const step = async (ids: number[], move: (ids: number[]) => Promise<TaskTransition[]>) => {
      if (ids.length === batch) more = true;
      if (ids.length) events.push(...(await move(ids)));
    };
    await step(await due(tx, "SCHEDULED", tasks.scheduledAt, now, batch), async (ids) =>
      (await transitionTasks(tx, { where: inArray(tasks.id, ids), from: "SCHEDULED", to: "PENDING", at: now })).events,
    );
    await step(await due(tx, "PENDING", tasks.expiresAt, now, batch), async (ids) =>
      (await transitionTasks(tx, { where: inArray(tasks.id, ids), from: "PENDING", to: "EXPIRED", message: EXPIRED_MESSAGE, at: now })).events,
    );
    for (const type of TASK_TYPES) {
      await step(await due(tx, "IN_PROGRESS", tasks.leaseExpiresAt, now, batch, eq(tasks.type, type)), async (ids) =>
        (await transitionTasks(tx, { where: inArray(tasks.id, ids), from: "IN_PROGRESS", to: "FAILED", message: leaseMessage(LEASE_MINUTES[type]), at: now })).events,
      );
    }
    return { events, more };
  });
}

/**
 * How soon after it a transition can make something due, from its kind alone, in ms: a
 * task created waiting expires no sooner than the shortest time to live, a started one's
 * lease runs its type's lease, a scheduled one may be due at once. Null: it makes nothing
 * due. The clock re-reads its next due time only for a transition that may fall due before
 * it wakes anyway: during a result storm every acknowledgement batch starts leases of at
 * least two minutes, and each re-read was three index scans.
 */
export function soonestDueAfter(e: Pick<TaskTransition, "from" | "to" | "type">): number | null {
  if (e.from === null) return e.to === "PENDING" ? TTL_SECONDS.min * 1000 : 0;
  if (e.to === "IN_PROGRESS") return LEASE_MINUTES[e.type] * 60_000;
  return null;
}

/**
 * Whether something that may fall due `soonestMs` after its transition (soonestDueAfter; null: nothing)
 * can do so before a clock that sleeps at most `maxSleepMs` wakes anyway: only then is the
 * clock woken to read its next due time again. The clock of the node where the transition
 * was made asks it, and each other node's clock asks it of the `due` hint, against its own
 * sleep (lib/server/cluster.ts). With the default sleep (CLOCK_MAX_SLEEP_MS), a task created
 * to run now or started wakes none.
 */
export function wakesClock(soonestMs: number | null, maxSleepMs: number): boolean {
  return soonestMs !== null && soonestMs < maxSleepMs;
}

/** The earliest moment anything is due, from the three partial indexes; null if nothing waits. */
export async function nextDueAt(ctx: Ctx): Promise<Date | null> {
  const [row] = await ctx.db
    .select({
      scheduled: sql<number | null>`(select min(${tasks.scheduledAt}) from ${tasks} where ${statusIs("SCHEDULED")})`.mapWith(Number),
      expiring: sql<number | null>`(select min(${tasks.expiresAt}) from ${tasks} where ${statusIs("PENDING")})`.mapWith(Number),
      lease: sql<number | null>`(select min(${tasks.leaseExpiresAt}) from ${tasks} where ${statusIs("IN_PROGRESS")})`.mapWith(Number),
    })
    .from(sql`(select 1) as one`)
    .limit(1);
  const times = [row?.scheduled, row?.expiring, row?.lease].filter((t): t is number => typeof t === "number");
  return times.length ? new Date(Math.min(...times)) : null;
}

/**
 * Leases after a restart. A lease measures how long the agent has been silent, and while the
 * server was down nobody could hear it: an agent that finished during an outage re-sends its
 * result on reconnect, and failing the task first would refuse that result as `final`. So
 * every lease still running when the server was last seen alive is lengthened by the
 * downtime, and none is judged before `graceUntil`, which leaves reconnecting agents (at
 * most 30 s apart, docs/agent-protocol.md §2) time to come back and re-send. Leases that
 * had already run out while the server was alive are left to fail. `lastSeen` null: the
 * downtime is unknown, so only the grace applies, to every lease.
 */
export async function extendLeasesAfterDowntime(tx: Tx, p: { lastSeen: Date | null; now: Date; graceUntil: Date }): Promise<{ extended: number; graced: number }> {
  const running = statusIs("IN_PROGRESS");
  const aliveWhenSeen = p.lastSeen ? gt(tasks.leaseExpiresAt, p.lastSeen) : undefined;
  const downtimeMs = p.lastSeen ? p.now.getTime() - p.lastSeen.getTime() : 0;
  let extended = 0;
  if (downtimeMs > 0) {
    extended = changedRows(
      await tx
        .update(tasks)
        .set({ leaseExpiresAt: sql`${tasks.leaseExpiresAt} + ${downtimeMs}` })
        .where(and(running, aliveWhenSeen)),
    );
  }
  const graced = changedRows(
    await tx
      .update(tasks)
      .set({ leaseExpiresAt: p.graceUntil })
      .where(and(running, lt(tasks.leaseExpiresAt, p.graceUntil), aliveWhenSeen)),
  );
  return { extended, graced };
}
