// The domain reads whose statements the SQL floor captures (bench/lib/sql.ts), named by data
// rather than passed as functions: a process builds statements for its own dialect only
// (db/dialect.ts), so PostgreSQL's are captured in a helper process (bench/pg-side.ts) that
// is sent the read over IPC.
import type { Db } from "../../db/client";
import type { Actor } from "../../lib/actor";
import { listTasks, pageTasks, type Cursor } from "../../lib/tasks/queries";

export type DomainRead =
  /** The list page's read (GET /tasks). */
  | { fn: "listTasks"; actor: Actor; filter: Record<string, string>; cursor?: Cursor; limit: number }
  /** The JSON API's read (GET /api/v1/tasks). */
  | { fn: "pageTasks"; actor: Actor; filter: Record<string, string>; page: number; perPage: number };

/** Runs the read on `db`; answers how many tasks it listed. */
export async function runRead(db: Db, read: DomainRead): Promise<number> {
  const ctx = { db, actor: read.actor };
  if (read.fn === "listTasks") return (await listTasks(ctx, { filter: read.filter, cursor: read.cursor, limit: read.limit })).items.length;
  return (await pageTasks(ctx, { filter: read.filter, page: read.page, perPage: read.perPage })).items.length;
}
