import { and, asc, eq, inArray } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "../../db/client";
import { devices, tasks, type Task } from "../../db/schema";
import { publish, type TaskTransition } from "../events";
import { isFinal } from "./constants";
import { taskCodeSchema } from "./schemas";
import { transitionTasks } from "./transition";

// The task verbs an agent's messages call. The device is the scope: a device can only
// ever read or move its own tasks.

const ownTask = (deviceId: string, code: string) => and(eq(tasks.code, code), eq(tasks.deviceId, deviceId));

/** A device's waiting tasks, oldest first (sent on every connect). */
export function pendingForDevice(db: Db, deviceId: string): Task[] {
  return db.select().from(tasks).where(and(eq(tasks.deviceId, deviceId), eq(tasks.status, "PENDING"))).orderBy(asc(tasks.id)).all();
}

/** Of the given tasks, those still PENDING whose device is online, oldest first. */
export function dispatchable(db: Db, ids: number[]): Task[] {
  const out: Task[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = db
      .select({ task: tasks })
      .from(tasks)
      .innerJoin(devices, eq(devices.id, tasks.deviceId))
      .where(and(inArray(tasks.id, ids.slice(i, i + 500)), eq(tasks.status, "PENDING"), eq(devices.online, true)))
      .orderBy(asc(tasks.id))
      .all();
    for (const r of rows) out.push(r.task);
  }
  return out;
}

/** The agent took the task: PENDING → IN_PROGRESS (its lease starts). */
export function acceptTask(db: Db, deviceId: string, code: string): boolean {
  const { events } = transitionTasks(db, { where: ownTask(deviceId, code), from: "PENDING", to: "IN_PROGRESS" });
  publish(events);
  return events.length > 0;
}

/**
 * The agent answered the task but refused it (bad signature, expired, replayed). Its answer
 * is an acknowledgement, so the task goes the only legal way to FAILED: through
 * IN_PROGRESS, in one transaction, with the reason as its message.
 */
export function refuseTask(db: Db, deviceId: string, code: string, reason: string): boolean {
  const events = db.transaction((tx) => {
    const at = new Date();
    const started = transitionTasks(tx, { where: ownTask(deviceId, code), from: "PENDING", to: "IN_PROGRESS", at }).events;
    if (!started.length) return [];
    const failed = transitionTasks(tx, { where: ownTask(deviceId, code), from: "IN_PROGRESS", to: "FAILED", message: `Refused by the agent: ${reason.slice(0, 1000)}`, at }).events;
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

export type ResultAck = { ok: true } | { ok: false; error: "not_found" | "invalid" | "final" };

/**
 * Records an agent's result, once. The same result sent again is acknowledged again
 * (agents re-send after a reconnect); a different one for a finished task is `final`.
 * A result for a task still PENDING (its acknowledgement was lost) moves it through
 * IN_PROGRESS in the same transaction.
 */
export function reportResult(db: Db, deviceId: string, raw: unknown): ResultAck {
  const parsed = resultSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, error: "invalid" };
  const { code, status, message } = parsed.data;
  const events: TaskTransition[] = [];
  const ack = db.transaction((tx): ResultAck => {
    const task = tx.select().from(tasks).where(ownTask(deviceId, code)).get();
    if (!task) return { ok: false, error: "not_found" };
    if (isFinal(task.status)) return task.status === status ? { ok: true } : { ok: false, error: "final" };
    // Never dispatched: the agent cannot know this task.
    if (task.status === "SCHEDULED") return { ok: false, error: "not_found" };
    const at = new Date();
    if (task.status === "PENDING") events.push(...transitionTasks(tx, { where: eq(tasks.id, task.id), from: "PENDING", to: "IN_PROGRESS", at }).events);
    events.push(...transitionTasks(tx, { where: eq(tasks.id, task.id), from: "IN_PROGRESS", to: status, message, at }).events);
    return { ok: true };
  });
  publish(events);
  return ack;
}
