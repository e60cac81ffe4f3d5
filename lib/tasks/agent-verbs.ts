import { statusIs } from "./terms";
import { and, asc, eq, gt, isNotNull, lte, sql } from "drizzle-orm";
import { z } from "zod";
import { storableText } from "../validation";
import { anyOf } from "../../db/portable";
import { withTransaction, writeBatch, type Ctx } from "../../db/transaction";
import { devices, fanouts, tasks, type Task } from "../../db/schema";
import { HELD_BY_PAUSE_SQL } from "../../rules/fanouts";
import { isFinal, type TaskStatus } from "../../rules/tasks";
import { publish } from "../events";
import { taskCodeSchema } from "./schemas";
import { eventsOfRows, finishOwnStep, ownTasksStep, startOwnStep, transitionTasks } from "./transition";

// The task verbs an agent's messages call. The device is the scope: a device can only
// ever read or move its own tasks.

const ownTask = (deviceId: string, code: string) => and(eq(tasks.code, code), eq(tasks.deviceId, deviceId));

/** Not held by its fan-out's pause (rules/fanouts.ts): what the dispatcher may send. */
const notHeld = sql.raw(`NOT ${HELD_BY_PAUSE_SQL}`);
/**
 * A task an agent may be sent: PENDING, held by no pause, and not past its expiry. One past
 * it waits for the clock to expire it: an agent would refuse it as expired, and it would end
 * FAILED (which a rollout's breaker counts) rather than EXPIRED.
 */
const sendable = () => and(statusIs("PENDING"), notHeld, gt(tasks.expiresAt, new Date()));

/**
 * Of these fan-outs, those paused now: the dispatcher asks just before it numbers each batch
 * after the first of a read, so a pause committed while a large dispatch is under way holds
 * back what is left of it.
 */
export async function pausedAmong(ctx: Ctx, fanoutIds: number[]): Promise<Set<number>> {
  if (!fanoutIds.length) return new Set();
  const rows = await ctx.db
    .select({ id: fanouts.id })
    .from(fanouts)
    .where(and(anyOf(fanouts.id, fanoutIds), isNotNull(fanouts.pausedAt)));
  return new Set(rows.map((r) => r.id));
}

/**
 * The PENDING tasks of a fan-out just resumed whose devices are connected to this node (or,
 * with no node named, are online), oldest first, `limit` after task id `after`: what the
 * pause held back, a page at a time.
 */
export async function releasedByResume(ctx: Ctx, fanoutId: number, page: { nodeId?: string; after: number; limit: number }): Promise<Task[]> {
  const rows = await ctx.db
    .select({ task: tasks })
    .from(tasks)
    .innerJoin(devices, eq(devices.id, tasks.deviceId))
    .where(and(eq(tasks.fanoutId, fanoutId), sendable(), gt(tasks.id, page.after), eq(devices.online, true), page.nodeId ? eq(devices.nodeId, page.nodeId) : undefined))
    .orderBy(asc(tasks.id))
    .limit(page.limit);
  return rows.map((r) => r.task);
}

/**
 * The waiting tasks of these devices, oldest first: what each is sent when it connects. One
 * query per 500 devices, so a fleet connecting at once reads its backlog in a few queries.
 */
export async function pendingForDevices(ctx: Ctx, deviceIds: string[]): Promise<Task[]> {
  const ids = [...new Set(deviceIds)];
  const out: Task[] = [];
  for (let i = 0; i < ids.length; i += 500)
    out.push(
      ...(await ctx.db
        .select()
        .from(tasks)
        .where(and(anyOf(tasks.deviceId, ids.slice(i, i + 500)), sendable()))
        .orderBy(asc(tasks.id))),
    );
  return ids.length > 500 ? out.sort((a, b) => a.id - b.id) : out;
}

/** Of the given tasks, those still PENDING whose device is online, oldest first, each with the node its device is connected to. */
export async function dispatchable(ctx: Ctx, ids: number[]): Promise<{ task: Task; nodeId: string | null }[]> {
  const out: { task: Task; nodeId: string | null }[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await ctx.db
      .select({ task: tasks, nodeId: devices.nodeId })
      .from(tasks)
      .innerJoin(devices, eq(devices.id, tasks.deviceId))
      .where(and(anyOf(tasks.id, ids.slice(i, i + 500)), sendable(), eq(devices.online, true)))
      .orderBy(asc(tasks.id));
    out.push(...rows);
  }
  return out;
}

/**
 * The dispatcher's safety net on several nodes: tasks PENDING since before `before` whose
 * devices are connected to node `nodeId` (a hint that never arrived, an acknowledgement
 * lost), oldest first. The agent acknowledges a task it already has again and does it once.
 */
export async function waitingOnNode(ctx: Ctx, nodeId: string, before: Date, limit: number): Promise<Task[]> {
  const rows = await ctx.db
    .select({ task: tasks })
    .from(tasks)
    .innerJoin(devices, eq(devices.id, tasks.deviceId))
    .where(and(eq(devices.nodeId, nodeId), sendable(), lte(tasks.updatedAt, before)))
    .orderBy(asc(tasks.id))
    .limit(limit);
  return rows.map((r) => r.task);
}

/**
 * The agent answered the task but refused it (bad signature, expired, replayed). Its answer
 * is an acknowledgement, so the task goes the only legal way to FAILED: through
 * IN_PROGRESS, in one transaction, with the reason as its message.
 */
export async function refuseTask(ctx: Ctx, deviceId: string, code: string, reason: string): Promise<boolean> {
  const events = await withTransaction(ctx, async (tx) => {
    const at = new Date();
    const started = (await transitionTasks(tx, { where: ownTask(deviceId, code), from: "PENDING", to: "IN_PROGRESS", at })).events;
    if (!started.length) return [];
    const failed = (await transitionTasks(tx, { where: ownTask(deviceId, code), from: "IN_PROGRESS", to: "FAILED", message: `Refused by the agent: ${reason.slice(0, 1000)}`, at })).events;
    return [...started, ...failed];
  });
  publish(events);
  return events.length > 0;
}

export const RESULT_MESSAGE_MAX = 64 * 1024;

/**
 * A result as docs/agent-protocol.md §4 has it. A key it does not name is left aside, not
 * refused: the answer to a refused result is to drop it, and work an agent did would end
 * FAILED by its lease for a field a newer agent sends.
 */
export const resultSchema = z.object({
  code: taskCodeSchema,
  status: z.enum(["COMPLETED", "FAILED"]),
  // A device's output is kept as it can be stored, not refused: one result PostgreSQL could
  // not store failed every result of its batch.
  message: z.string().max(RESULT_MESSAGE_MAX).transform(storableText).default(""),
});

export type ResultAck = { ok: true } | { ok: false; error: "not_found" | "invalid" | "final" | "internal" };

/**
 * Records a batch of agents' messages in one transaction: acknowledgements (the agent took
 * the task: PENDING → IN_PROGRESS, its lease starts) and results, each once.
 *
 * - An acknowledgement is answered with whether its task moved (a task acknowledged twice in
 *   one batch moves once).
 * - The same result sent again is acknowledged again (agents re-send after a reconnect); a
 *   different one for a finished task is `final`. A result for a task still PENDING (its
 *   acknowledgement was lost, or is in this batch after all) moves it through IN_PROGRESS.
 * - Answered only once the transaction has committed: an agent that hears ok forgets the
 *   result. A batch the database cannot write is answered `internal` throughout (and its
 *   acknowledgements as not moved): nothing of it was recorded, each agent sends its results
 *   again and the tasks go again on the device's next connect.
 *
 * Given both kinds, the acknowledgements go first, so a result that arrives with its task's
 * acknowledgement finds the task started; a node writes each kind in batches of its own
 * (lib/agents/moves.ts says why). Four statements for a batch of both, by the bulk writer,
 * off the loop: the acknowledgements' move, each result's task as it was, its start if it
 * was PENDING, its end.
 */
export async function recordAgentMoves(
  ctx: Ctx,
  accepts: { deviceId: string; code: string }[],
  results: { deviceId: string; raw: unknown }[],
): Promise<{ accepted: boolean[]; results: ResultAck[] }> {
  const acks: ResultAck[] = results.map(() => ({ ok: false, error: "invalid" }));
  const valid: { i: number; code: string; deviceId: string; status: "COMPLETED" | "FAILED"; message: string }[] = [];
  results.forEach(({ deviceId, raw }, i) => {
    const parsed = resultSchema.safeParse(raw);
    if (parsed.success) valid.push({ i, deviceId, ...parsed.data });
  });
  if (!accepts.length && !valid.length) return { accepted: [], results: acks };
  // A task's first result in the batch is the one recorded; the others are answered by it.
  const first = new Map<string, (typeof valid)[number]>();
  for (const v of valid) if (!first.has(`${v.deviceId} ${v.code}`)) first.set(`${v.deviceId} ${v.code}`, v);
  const recorded = [...first.values()];
  const at = Date.now();
  const steps = [...(accepts.length ? [startOwnStep(accepts, at)] : []), ...(recorded.length ? [ownTasksStep(recorded), startOwnStep(recorded, at), finishOwnStep(recorded, at)] : [])];
  let out: unknown[][][];
  try {
    out = (await writeBatch(ctx, steps)) as unknown[][][];
  } catch (e) {
    console.error(`Recording ${accepts.length} agent acknowledgements and ${valid.length} results failed`, e);
    for (const v of valid) acks[v.i] = { ok: false, error: "internal" };
    return { accepted: accepts.map(() => false), results: acks };
  }
  const acceptedRows = accepts.length ? out.shift()! : [];
  const [before, started, finished] = recorded.length ? out : [[], [], []];
  const acceptEvents = eventsOfRows(acceptedRows, "PENDING");
  const events = [...acceptEvents, ...eventsOfRows(started, "PENDING"), ...eventsOfRows(finished, "IN_PROGRESS")];
  publish(events);
  const moved = new Set(acceptEvents.map((e) => `${e.deviceId} ${e.code}`));
  const ended = new Map(events.filter((e) => e.from === "IN_PROGRESS").map((e) => [e.taskId, e.to]));
  // Each row names its result by its index: a join returns its rows in no promised order.
  const byKey = new Map((before as [number | string, number | null, TaskStatus | null][]).map((r) => [Number(r[0]), r]));
  const was = new Map(recorded.map((v, j) => [`${v.deviceId} ${v.code}`, byKey.get(j)!]));
  for (const v of valid) {
    const [, id, status] = was.get(`${v.deviceId} ${v.code}`)!;
    acks[v.i] = resultAck(v.status, status, id === null ? undefined : ended.get(id));
  }
  return { accepted: accepts.map((i) => moved.delete(`${i.deviceId} ${i.code}`)), results: acks };
}

/** The answer to a result `sent`, for a task that was in `was` (null: none of this device) and ended in `now` in this batch. */
function resultAck(sent: "COMPLETED" | "FAILED", was: TaskStatus | null, now: TaskStatus | undefined): ResultAck {
  // Unknown, or never dispatched: the agent cannot know this task.
  if (was === null || was === "SCHEDULED") return { ok: false, error: "not_found" };
  const final = isFinal(was) ? was : now;
  // Open and not ended by this batch: the database refused the move.
  if (!final) return { ok: false, error: "internal" };
  return final === sent ? { ok: true } : { ok: false, error: "final" };
}
