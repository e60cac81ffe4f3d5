import { sql, type SQL } from "drizzle-orm";
import { fanouts, tasks } from "../../db/schema";
import { sqlList } from "../../rules/sql";
import { TASK_STATUSES, type TaskStatus } from "../../rules/tasks";

// Conditions on the columns that partial indexes are built on (a task's status: the waiting,
// running, scheduled and device-pending indexes; a fan-out's open tasks), with the value
// written into the statement, never bound as a parameter:
// - SQLite decides from the value whether a partial index applies, so a statement whose
//   value is a parameter is prepared again each time the parameter is bound. A device's
//   waiting tasks, read on every agent's connect, cost 22 µs that way against 6 µs.
// - PostgreSQL's generic plan of a prepared statement cannot use such an index at all.
// The lint (eslint.config.mjs) refuses drizzle's own operators on these columns, so every
// condition on them comes from here.

/** The task's status is one of `statuses` (none: no task). */
export function statusIs(...statuses: TaskStatus[]): SQL {
  for (const s of statuses) if (!TASK_STATUSES.includes(s)) throw new Error(`Not a task status: ${s}`);
  if (!statuses.length) return sql`1 = 0`;
  return statuses.length === 1 ? sql`${tasks.status} = ${sql.raw(sqlList(statuses))}` : sql`${tasks.status} in (${sql.raw(sqlList(statuses))})`;
}

/** The fan-out has tasks still open (`true`), or none (`false`). */
export function fanoutIsOpen(open: boolean): SQL {
  return open ? sql`${fanouts.openTasks} > 0` : sql`${fanouts.openTasks} = 0`;
}
