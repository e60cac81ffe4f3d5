import { statusIs } from "./terms";
import { and, sql, type SQL } from "drizzle-orm";
import type { BatchStep } from "../../db/batch";
import type { Tx } from "../../db/client";
import { tasks, type Task } from "../../db/schema";
import { canTransition, isFinal, LEASE_MINUTES, TASK_TYPES, type TaskStatus } from "../../rules/tasks";
import { HELD_BY_PAUSE_SQL } from "../../rules/fanouts";
import type { TaskTransition } from "../events";
import { PROCESS_DIALECT } from "../../db/dialect";

/**
 * The moment a move is recorded at: `at`, or the row's last change if that is later. On
 * PostgreSQL two writers can meet on a row in the other order than their clocks were read (an
 * agent's result batch, read at 10:00:00.100, waits for the acknowledgement batch read at
 * .120 to commit, then finishes the task): a task's times never go back, and it never finishes
 * before it started.
 */
const LATER = PROCESS_DIALECT === "pg" ? "GREATEST" : "MAX";
const movedAt = (at: Date) => sql`${sql.raw(LATER)}(${sql.raw(String(at.getTime()))}, ${tasks.updatedAt})`;

/** started at + the row's type's lease, as one SQL expression over however many types. */
function leaseExpirySql(at: Date) {
  // Literals, not parameters: PostgreSQL would type a parameter here as text.
  const cases = TASK_TYPES.map((t) => sql`when ${t} then ${sql.raw(String(LEASE_MINUTES[t] * 60_000))}`);
  return sql`${movedAt(at)} + case ${tasks.type} ${sql.join(cases, sql` `)} end`;
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
      updatedAt: movedAt(at),
      ...(req.message !== undefined ? { message: req.message } : {}),
      ...(req.to === "IN_PROGRESS" ? { startedAt: movedAt(at), leaseExpiresAt: leaseExpirySql(at) } : {}),
      ...(isFinal(req.to) ? { finishedAt: movedAt(at) } : {}),
    })
    .where(and(req.where, statusIs(req.from)))
    .returning();
  return { rows, events: rows.map((r) => transitionEvent(r, req.from)) };
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

// Agents' acknowledgements and results arrive by the hundred and are written by the bulk
// writer, off the event loop (db/batch.ts), as one statement per kind of move for the whole
// batch: the moves of transitionTasks, guarded the same way (`WHERE status = from`, and the
// database's trigger), each task named by its code within its device.
const EVENT_COLUMNS = ["id", "organization_id", "code", "device_id", "fanout_id", "type", "status", "updated_at"].map((c) => `tasks.${c}`).join(", ");
const LEASE_MS = `CASE tasks.type ${TASK_TYPES.map((t) => `WHEN '${t}' THEN ${LEASE_MINUTES[t] * 60_000}`).join(" ")} END`;
/** A JSON array given as the statement's parameter, as rows `j(value, key)`, key its 0-based index. */
const JSON_ROWS = PROCESS_DIALECT === "pg" ? "(SELECT value, ord - 1 AS key FROM jsonb_array_elements(CAST(? AS jsonb)) WITH ORDINALITY AS e(value, ord)) j" : "json_each(?) j";
/**
 * The batch's moves as rows (code, device id, from[, status, message]) of a JSON array. The
 * status a task moves from comes with each row rather than as a constant: a constant is a
 * condition on `tasks` alone, which PostgreSQL answers from the partial index of that status
 * when its statistics say few tasks are in it (taken before the fan-out that filled it),
 * reading every task in that status for each batch. As a join condition it leaves one way in:
 * each row's code, through its unique index (docs/performance.md, "Plans made from
 * statistics older than the tasks"; tests/unit/pg-plans.test.ts).
 */
const OWN_ROWS = `SELECT j.value ->> 0 AS code, j.value ->> 1 AS device_id, j.value ->> 2 AS from_status, j.value ->> 3 AS status, j.value ->> 4 AS message FROM ${JSON_ROWS}`;
const OWN_TASK = "tasks.code = own.code AND tasks.device_id = own.device_id AND tasks.status = own.from_status";
/** A moment given as a parameter, in arithmetic (PostgreSQL would otherwise take it as an integer), or the row's last change if later (see movedAt). */
const AT = `${LATER}(CAST(? AS bigint), tasks.updated_at)`;

/** Each of these tasks as it is now: [index in the list, id, status], id and status null for none. */
export function ownTasksStep(list: { code: string; deviceId: string }[]): BatchStep {
  return {
    sql: `SELECT j.key, t.id, t.status FROM ${JSON_ROWS} LEFT JOIN tasks t ON t.code = j.value ->> 0 AND t.device_id = j.value ->> 1`,
    params: [JSON.stringify(list.map((i) => [i.code, i.deviceId]))],
    all: true,
  };
}

/** PENDING → IN_PROGRESS for those of these tasks still PENDING; the step returns their event rows. */
export function startOwnStep(list: { code: string; deviceId: string }[], at: number): BatchStep {
  return {
    sql: `UPDATE tasks SET status = 'IN_PROGRESS', updated_at = ${AT}, started_at = ${AT}, lease_expires_at = ${AT} + ${LEASE_MS}
      FROM (${OWN_ROWS}) AS own WHERE ${OWN_TASK}
      RETURNING ${EVENT_COLUMNS}`,
    params: [at, at, at, JSON.stringify(list.map((i) => [i.code, i.deviceId, "PENDING"]))],
    all: true,
  };
}

/** IN_PROGRESS → each task's own final status and message; the step returns their event rows. */
export function finishOwnStep(list: { code: string; deviceId: string; status: "COMPLETED" | "FAILED"; message: string }[], at: number): BatchStep {
  return {
    sql: `UPDATE tasks SET status = own.status, message = own.message, updated_at = ${AT}, finished_at = ${AT}
      FROM (${OWN_ROWS}) AS own WHERE ${OWN_TASK}
      RETURNING ${EVENT_COLUMNS}`,
    params: [at, at, JSON.stringify(list.map((i) => [i.code, i.deviceId, "IN_PROGRESS", i.status, i.message]))],
    all: true,
  };
}

/** Every task of a fan-out still in `from` → CANCELLED with one message; the step returns their event rows. */
export function cancelFanoutStep(fanoutId: number, from: TaskStatus, message: string, at: number): BatchStep {
  if (!canTransition(from, "CANCELLED")) throw new IllegalTransitionError(from, "CANCELLED");
  return {
    sql: `UPDATE tasks SET status = 'CANCELLED', message = ?, updated_at = ${AT}, finished_at = ${AT}
      WHERE tasks.fanout_id = CAST(? AS bigint) AND tasks.status = '${from}'
      RETURNING ${EVENT_COLUMNS}`,
    params: [message, at, at, fanoutId],
    all: true,
  };
}

/**
 * SCHEDULED → PENDING for the tasks of a rollout's open wave still waiting for it, in id
 * order, as many as there is room for: `maxInFlight` less the wave's tasks PENDING or
 * IN_PROGRESS (null: no bound). Each one's expiry counts from now (rules/rollouts.ts). Only
 * while the fan-out's open wave is `wave` and no pause holds them (HELD_BY_PAUSE_SQL: a pause
 * committed after the rollout's read too), and once the clock has fired those of it issued
 * for a later time (a scheduled rollout's first wave). The step returns their event rows.
 */
export function releaseWaveStep(p: { fanoutId: number; wave: number; maxInFlight: number | null; at: number; expiresAt: number }): BatchStep {
  if (!canTransition("SCHEDULED", "PENDING")) throw new IllegalTransitionError("SCHEDULED", "PENDING");
  const room =
    p.maxInFlight === null
      ? String(2 ** 31 - 1)
      : `${LATER}(0, CAST(? AS integer) - (SELECT count(*) FROM tasks r WHERE r.fanout_id = CAST(? AS bigint) AND r.wave = CAST(? AS integer) AND (r.status = 'PENDING' OR r.status = 'IN_PROGRESS')))`;
  return {
    sql: `UPDATE tasks SET status = 'PENDING', updated_at = ${AT}, expires_at = CAST(? AS bigint)
      WHERE tasks.id IN (SELECT w.id FROM tasks w WHERE w.fanout_id = CAST(? AS bigint) AND w.wave = CAST(? AS integer) AND w.status = 'SCHEDULED' AND w.scheduled_at IS NULL
        AND EXISTS (SELECT 1 FROM fanouts f WHERE f.id = w.fanout_id AND f.wave = w.wave)
        AND NOT EXISTS (SELECT 1 FROM tasks s WHERE s.fanout_id = w.fanout_id AND s.wave = w.wave AND s.status = 'SCHEDULED' AND s.scheduled_at IS NOT NULL)
        ORDER BY w.id LIMIT ${room})
      AND tasks.status = 'SCHEDULED' AND NOT ${HELD_BY_PAUSE_SQL}
      RETURNING ${EVENT_COLUMNS}`,
    params: [p.at, p.expiresAt, p.fanoutId, p.wave, ...(p.maxInFlight === null ? [] : [p.maxInFlight, p.fanoutId, p.wave])],
    all: true,
  };
}

/** The events of rows a step above returned, which were in `from` before. */
export function eventsOfRows(rows: unknown[][], from: TaskStatus): TaskTransition[] {
  return rows.map(([id, organizationId, code, deviceId, fanoutId, type, status, updatedAt]) =>
    transitionEvent(
      { id, organizationId, code, deviceId, fanoutId, type, status, updatedAt: new Date(updatedAt as number) } as Parameters<typeof transitionEvent>[0],
      from,
    ),
  );
}
