import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { z } from "zod";
import { preparedOn, type DbOrTx, type Tx } from "../../db/client";
import { pacer, withTransaction, type Ctx } from "../../db/transaction";
import { devices, tasks, type Task } from "../../db/schema";
import { isFinal } from "../../rules/tasks";
import { publish, type TaskTransition } from "../events";
import { taskCodeSchema } from "./schemas";
import { transitionOne, transitionTasks } from "./transition";

// The task verbs an agent's messages call. The device is the scope: a device can only
// ever read or move its own tasks.

const ownTask = (deviceId: string, code: string) => and(eq(tasks.code, code), eq(tasks.deviceId, deviceId));

/** A device's waiting tasks, oldest first (sent on every connect). */
export async function pendingForDevice(ctx: Ctx, deviceId: string): Promise<Task[]> {
  return pendingOf(ctx.db).all({ deviceId });
}

/** Every connect of every agent asks this: prepared once per handle. */
const pendingOf = preparedOn((h: DbOrTx) =>
  h
    .select()
    .from(tasks)
    .where(and(eq(tasks.deviceId, sql.placeholder("deviceId")), eq(tasks.status, "PENDING")))
    .orderBy(asc(tasks.id))
    .prepare(),
);

/** Of the given tasks, those still PENDING whose device is online, oldest first. */
export async function dispatchable(ctx: Ctx, ids: number[]): Promise<Task[]> {
  const out: Task[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await ctx.db
      .select({ task: tasks })
      .from(tasks)
      .innerJoin(devices, eq(devices.id, tasks.deviceId))
      .where(and(inArray(tasks.id, ids.slice(i, i + 500)), eq(tasks.status, "PENDING"), eq(devices.online, true)))
      .orderBy(asc(tasks.id));
    for (const r of rows) out.push(r.task);
  }
  return out;
}

/**
 * The agent took these tasks: PENDING → IN_PROGRESS (their leases start). Many
 * acknowledgements in one transaction: the dispatcher gathers those that arrive in one
 * turn of the event loop, so a fleet answering at once costs one commit per batch, not one
 * per task. Each answer is whether that task moved.
 */
export async function acceptTasks(ctx: Ctx, items: { deviceId: string; code: string }[]): Promise<boolean[]> {
  const events: TaskTransition[] = [];
  const moved = await withTransaction(ctx, async (tx) => {
    const at = new Date();
    const pace = pacer();
    const out: boolean[] = [];
    for (const i of items) {
      const e = transitionOne(tx, { code: i.code, deviceId: i.deviceId }, { from: "PENDING", to: "IN_PROGRESS", at });
      if (e) events.push(e);
      out.push(e !== null);
      await pace();
    }
    return out;
  });
  publish(events);
  return moved;
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

export const resultSchema = z
  .object({
    code: taskCodeSchema,
    status: z.enum(["COMPLETED", "FAILED"]),
    message: z.string().max(RESULT_MESSAGE_MAX),
  })
  .strict();

export type ResultAck = { ok: true } | { ok: false; error: "not_found" | "invalid" | "final" | "internal" };

const ownTaskStatus = preparedOn((tx: Tx) =>
  tx
    .select({ id: tasks.id, status: tasks.status })
    .from(tasks)
    .where(and(eq(tasks.code, sql.placeholder("code")), eq(tasks.deviceId, sql.placeholder("deviceId"))))
    .prepare(),
);

/**
 * Records agents' results, each once. The same result sent again is acknowledged again
 * (agents re-send after a reconnect); a different one for a finished task is `final`.
 * A result for a task still PENDING (its acknowledgement was lost) moves it through
 * IN_PROGRESS in the same transaction. Many results share one transaction (the agent
 * namespace gathers those that arrive in one turn of the event loop), each answered on its
 * own: one that fails leaves the others recorded.
 */
export async function reportResults(ctx: Ctx, items: { deviceId: string; raw: unknown }[]): Promise<ResultAck[]> {
  const events: TaskTransition[] = [];
  // Answered only once the transaction has committed: an agent that hears ok forgets the result.
  const acks = await withTransaction(ctx, async (tx) => {
    const find = ownTaskStatus(tx);
    const out: ResultAck[] = [];
    // A full batch is hundreds of results: the loop turns between stretches of them.
    const pace = pacer();
    for (const { deviceId, raw } of items) {
      out.push(await recordResult(tx, find, deviceId, raw, events));
      await pace();
    }
    return out;
  });
  publish(events);
  return acks;
}

async function recordResult(tx: Tx, find: ReturnType<typeof ownTaskStatus>, deviceId: string, raw: unknown, events: TaskTransition[]): Promise<ResultAck> {
  const parsed = resultSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, error: "invalid" };
  const { code, status, message } = parsed.data;
  const task = find.get({ code, deviceId });
  if (!task) return { ok: false, error: "not_found" };
  if (isFinal(task.status)) return task.status === status ? { ok: true } : { ok: false, error: "final" };
  // Never dispatched: the agent cannot know this task.
  if (task.status === "SCHEDULED") return { ok: false, error: "not_found" };
  const at = new Date();
  try {
    const finish = (h: Tx) => transitionOne(h, { id: task.id }, { from: "IN_PROGRESS", to: status, message, at });
    // One statement is atomic by itself; the two steps of a task still PENDING share a
    // savepoint, so they land together or not at all.
    const moved =
      task.status === "IN_PROGRESS"
        ? [finish(tx)]
        : await withTransaction({ db: tx }, (sp) => [transitionOne(sp, { id: task.id }, { from: "PENDING", to: "IN_PROGRESS", at }), finish(sp)]);
    for (const e of moved) if (e) events.push(e);
    return { ok: true };
  } catch (e) {
    console.error(`Recording the result of ${code} failed`, e);
    return { ok: false, error: "internal" };
  }
}
