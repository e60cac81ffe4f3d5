// Helpers shared by the unit tests. No state lives here: every helper works on the db it is given.
import { count, eq } from "drizzle-orm";
import { expect } from "vitest";
import type { Db } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import { fanouts, tasks, type Task } from "../../db/schema";
import type { Actor } from "../../lib/actor";
import { DomainError, type ErrorCode } from "../../lib/errors";
import { subscribe, type DomainEvent, type TaskTransition } from "../../lib/events";
import type { TaskStatus, TaskType } from "../../rules/tasks";
import { issueFanout } from "../../lib/tasks/issue";
import { transitionTasks } from "../../lib/tasks/transition";

/** Runs fn, which must throw; returns what it threw. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected the call to throw, but it returned");
}

/** Runs fn, which must throw or reject; returns what it threw. */
export async function rejection(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected the call to throw, but it returned");
}

/**
 * Awaits `p`, which must reject with an error whose message, or the message of an error it
 * wraps (drizzle wraps PostgreSQL's errors in one naming the query), matches `pattern`.
 */
export async function expectRejectionMatching(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const e = await rejection(() => p);
  const messages: string[] = [];
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) messages.push(String((cur as Error).message ?? cur));
  expect(messages.join("\n")).toMatch(pattern);
}

/** Runs fn, which must throw or reject with a DomainError of the given code; returns the error. */
export async function expectDomainError(fn: () => unknown, code: ErrorCode): Promise<DomainError> {
  const e = await rejection(fn);
  expect(e).toBeInstanceOf(DomainError);
  const err = e as DomainError;
  expect(err.code, err.message).toBe(code);
  return err;
}

/** The domain events published while fn runs, until what it returns has settled (the bus is synchronous). */
export async function capture<T>(fn: () => T | Promise<T>): Promise<{ result: T; events: DomainEvent[] }> {
  const events: DomainEvent[] = [];
  const off = subscribe((e) => events.push(e));
  try {
    return { result: await fn(), events };
  } finally {
    off();
  }
}

export const transitionsOf = (events: DomainEvent[]) => events.filter((e): e is TaskTransition => e.kind === "task.transition");

export async function countTasks(db: Db): Promise<number> {
  return (await db.select({ n: count() }).from(tasks))[0]!.n;
}

export async function countFanouts(db: Db): Promise<number> {
  return (await db.select({ n: count() }).from(fanouts))[0]!.n;
}

export async function taskByCode(db: Db, code: string): Promise<Task> {
  const t = (await db.select().from(tasks).where(eq(tasks.code, code)))[0];
  if (!t) throw new Error(`no task ${code}`);
  return t;
}

/** The legal walk from creation to each status. */
const PATHS: Record<TaskStatus, TaskStatus[]> = {
  SCHEDULED: [],
  PENDING: [],
  IN_PROGRESS: ["IN_PROGRESS"],
  COMPLETED: ["IN_PROGRESS", "COMPLETED"],
  FAILED: ["IN_PROGRESS", "FAILED"],
  CANCELLED: ["CANCELLED"],
  EXPIRED: ["EXPIRED"],
};

/** Moves a task along legal transitions, checking each step moved exactly it. */
export async function walk(db: Db, task: Task, steps: TaskStatus[]): Promise<Task> {
  let current = task;
  for (const to of steps) {
    const from = current.status;
    const { rows } = await withTransaction({ db }, (tx) => transitionTasks(tx, { where: eq(tasks.id, current.id), from, to }));
    expect(rows).toHaveLength(1);
    current = rows[0];
  }
  return current;
}

/** Issues a task to one ENABLED device and walks it to the requested status. */
export async function taskInStatus(db: Db, actor: Actor, device: string, status: TaskStatus, opts: { type?: TaskType; payload?: unknown; ttlSeconds?: number } = {}): Promise<Task> {
  const scheduled = status === "SCHEDULED";
  const issued = await issueFanout({ db, actor }, {
    type: opts.type ?? "SYNC",
    payload: opts.payload,
    ttlSeconds: opts.ttlSeconds,
    targets: { devices: [device] },
    scheduledAt: scheduled ? new Date(Date.now() + 3600_000) : undefined,
  });
  expect(issued.tasks).toHaveLength(1);
  const task = await taskByCode(db, issued.tasks[0].code);
  expect(task.status).toBe(scheduled ? "SCHEDULED" : "PENDING");
  const done = await walk(db, task, PATHS[status]);
  expect(done.status).toBe(status);
  return done;
}
