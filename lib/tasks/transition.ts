import { and, eq, sql, type SQL } from "drizzle-orm";
import type { Db } from "../../db/client";
import { tasks, type Task } from "../../db/schema";
import type { TaskTransition } from "../events";
import { canTransition, isFinal, LEASE_MINUTES, TASK_TYPES, type TaskStatus } from "./constants";

/** started at + the row's type's lease, as one SQL expression over however many types. */
function leaseExpirySql(at: Date) {
  const cases = TASK_TYPES.map((t) => sql`when ${t} then ${at.getTime() + LEASE_MINUTES[t] * 60_000}`);
  return sql`case ${tasks.type} ${sql.join(cases, sql` `)} end`;
}

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
export type DbOrTx = Db | Tx;

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
export function transitionTasks(
  db: DbOrTx,
  req: { where: SQL | undefined; from: TaskStatus; to: TaskStatus; message?: string | null; at?: Date },
): { rows: Task[]; events: TaskTransition[] } {
  if (!canTransition(req.from, req.to)) throw new IllegalTransitionError(req.from, req.to);
  const at = req.at ?? new Date();
  const rows = db
    .update(tasks)
    .set({
      status: req.to,
      updatedAt: at,
      ...(req.message !== undefined ? { message: req.message } : {}),
      ...(req.to === "IN_PROGRESS" ? { startedAt: at, leaseExpiresAt: leaseExpirySql(at) } : {}),
      ...(isFinal(req.to) ? { finishedAt: at } : {}),
    })
    .where(and(req.where, eq(tasks.status, req.from)))
    .returning()
    .all();
  return { rows, events: rows.map((r) => transitionEvent(r, req.from)) };
}

/** The event of a row that just reached its current status (`from` null: it was created). */
export function transitionEvent(r: Task, from: TaskStatus | null): TaskTransition {
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
