import { and, eq, sql, type SQL } from "drizzle-orm";
import type { Tx } from "../../db/client";
import { tasks, type Task } from "../../db/schema";
import { canTransition, isFinal, LEASE_MINUTES, TASK_TYPES, type TaskStatus } from "../../rules/tasks";
import type { TaskTransition } from "../events";

/** started at + the row's type's lease, as one SQL expression over however many types. */
function leaseExpirySql(at: Date) {
  const cases = TASK_TYPES.map((t) => sql`when ${t} then ${at.getTime() + LEASE_MINUTES[t] * 60_000}`);
  return sql`case ${tasks.type} ${sql.join(cases, sql` `)} end`;
}

export class IllegalTransitionError extends Error {
  constructor(from: TaskStatus, to: TaskStatus) {
    super(`Illegal task transition ${from} -> ${to}`);
    this.name = "IllegalTransitionError";
  }
}

/**
 * The one place a task's status changes: a single `UPDATE … WHERE status = from RETURNING`,
 * so a row another writer already moved is left alone and yields no event. The database
 * trigger refuses the same illegal moves a second time.
 */
export async function transitionTasks(
  tx: Tx,
  req: { where: SQL | undefined; from: TaskStatus; to: TaskStatus; message?: string | null; at?: Date },
): Promise<{ rows: Task[]; events: TaskTransition[] }> {
  if (!canTransition(req.from, req.to)) throw new IllegalTransitionError(req.from, req.to);
  const at = req.at ?? new Date();
  const rows = await tx
    .update(tasks)
    .set({
      status: req.to,
      updatedAt: at,
      ...(req.message !== undefined ? { message: req.message } : {}),
      ...(req.to === "IN_PROGRESS" ? { startedAt: at, leaseExpiresAt: leaseExpirySql(at) } : {}),
      ...(isFinal(req.to) ? { finishedAt: at } : {}),
    })
    .where(and(req.where, eq(tasks.status, req.from)))
    .returning();
  return { rows, events: rows.map((r) => transitionEvent(r, req.from)) };
}

// The agents' hot path moves one task at a time, thousands of times a second: the same
// UPDATE as transitionTasks, built and prepared once per connection and transition instead
// of once per call (building and preparing cost ten times what running it does). Prepared
// on the writer connection inside a transaction, the only place a task moves.
const prepared = new WeakMap<Tx, Map<string, ReturnType<typeof prepareOne>>>();

const eventColumns = {
  id: tasks.id,
  organizationId: tasks.organizationId,
  code: tasks.code,
  deviceId: tasks.deviceId,
  fanoutId: tasks.fanoutId,
  type: tasks.type,
  status: tasks.status,
  updatedAt: tasks.updatedAt,
};

function prepareOne(tx: Tx, by: "id" | "own", from: TaskStatus, to: TaskStatus, withMessage: boolean) {
  const at = sql.placeholder("at");
  const cases = TASK_TYPES.map((t) => sql`when ${t} then ${LEASE_MINUTES[t] * 60_000}`);
  const where = by === "id" ? eq(tasks.id, sql.placeholder("id")) : and(eq(tasks.code, sql.placeholder("code")), eq(tasks.deviceId, sql.placeholder("deviceId")));
  // Placeholders take the driver's values: the time as epoch milliseconds.
  return tx
    .update(tasks)
    .set({
      status: to,
      updatedAt: sql`${at}`,
      ...(withMessage ? { message: sql`${sql.placeholder("message")}` } : {}),
      ...(to === "IN_PROGRESS" ? { startedAt: sql`${at}`, leaseExpiresAt: sql`${at} + case ${tasks.type} ${sql.join(cases, sql` `)} end` } : {}),
      ...(isFinal(to) ? { finishedAt: sql`${at}` } : {}),
    })
    .where(and(where, eq(tasks.status, from)))
    .returning(eventColumns)
    .prepare();
}

/**
 * transitionTasks for a single task — by id, or by code within its device (an agent's own
 * task) — with a statement prepared once. Returns the event, or null if the task was not in
 * `from` (another writer moved it first). Runs synchronously on the transaction it is given.
 */
export function transitionOne(
  tx: Tx,
  which: { id: number } | { code: string; deviceId: string },
  req: { from: TaskStatus; to: TaskStatus; message?: string | null; at: Date },
): TaskTransition | null {
  if (!canTransition(req.from, req.to)) throw new IllegalTransitionError(req.from, req.to);
  const by = "id" in which ? "id" : "own";
  const withMessage = req.message !== undefined;
  const key = `${by}:${req.from}:${req.to}:${withMessage}`;
  let cache = prepared.get(tx);
  if (!cache) prepared.set(tx, (cache = new Map()));
  let stmt = cache.get(key);
  if (!stmt) cache.set(key, (stmt = prepareOne(tx, by, req.from, req.to, withMessage)));
  const row = stmt.get({ ...which, at: req.at.getTime(), ...(withMessage ? { message: req.message ?? null } : {}) });
  return row ? transitionEvent(row, req.from) : null;
}

/** The event of a row that just reached its current status (`from` null: it was created). */
export function transitionEvent(r: Pick<Task, "id" | "organizationId" | "code" | "deviceId" | "fanoutId" | "type" | "status" | "updatedAt">, from: TaskStatus | null): TaskTransition {
  return {
    kind: "task.transition",
    organizationId: r.organizationId,
    taskId: r.id,
    code: r.code,
    deviceId: r.deviceId,
    fanoutId: r.fanoutId,
    type: r.type,
    from,
    to: r.status,
    at: r.updatedAt.getTime(),
  };
}
