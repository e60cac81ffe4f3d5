import { and, asc, count, desc, eq, gt, inArray, lt, sql, type SQL } from "drizzle-orm";
import type { Db } from "../../db/client";
import { devices, fanouts, organization, tasks, user } from "../../db/schema";
import type { Actor } from "../auth/actor";
import { displayNameSql, escapeLike } from "../devices/devices";
import { NotFoundError } from "../errors";
import { parse } from "../validation";
import { LEASE_MINUTES, OPEN_STATUSES, sqlList, TASK_STATUSES, TTL_SECONDS, type TaskStatus } from "./constants";

const OPEN_HORIZON_MS = (TTL_SECONDS.max + Math.max(...Object.values(LEASE_MINUTES)) * 60) * 1000;
import { listFilterSchema, taskCodeSchema, type ListFilter } from "./schemas";

const listColumns = {
  id: tasks.id,
  code: tasks.code,
  type: tasks.type,
  status: tasks.status,
  device: displayNameSql,
  deviceId: tasks.deviceId,
  organization: organization.name,
  fanout: fanouts.code,
  scheduledAt: tasks.scheduledAt,
  createdAt: tasks.createdAt,
  updatedAt: tasks.updatedAt,
  expiresAt: tasks.expiresAt,
  message: tasks.message,
};

export type TaskListItem = {
  id: number;
  code: string;
  type: (typeof tasks.$inferSelect)["type"];
  status: TaskStatus;
  device: string;
  deviceId: string;
  organization: string;
  /** The code of the fan-out that issued the task (null for tasks issued outside one). */
  fanout: string | null;
  scheduledAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date;
  message: string | null;
};

function filterWhere(db: Db, organizationId: string, f: ListFilter): SQL | undefined {
  const parts: (SQL | undefined)[] = [eq(tasks.organizationId, organizationId)];
  if (f.type) parts.push(eq(tasks.type, f.type));
  if (f.status) parts.push(eq(tasks.status, f.status));
  if (f.device) {
    // Resolve the substring to device ids first: a scan of the devices, not of the tasks.
    const ids = db
      .select({ id: devices.id })
      .from(devices)
      .where(and(eq(devices.organizationId, organizationId), sql`${displayNameSql} like ${`%${escapeLike(f.device)}%`} escape '\\'`))
      .all()
      .map((d) => d.id);
    parts.push(ids.length ? inArray(tasks.deviceId, ids) : sql`0`);
  }
  if (f.fanout) {
    const fo = db
      .select({ id: fanouts.id })
      .from(fanouts)
      .where(and(eq(fanouts.code, f.fanout), eq(fanouts.organizationId, organizationId)))
      .get();
    parts.push(fo ? eq(tasks.fanoutId, fo.id) : sql`0`);
  }
  return and(...parts);
}

export type Cursor = { before?: number; after?: number };

/**
 * Newest first, keyset-paginated on the task id: `before` pages forward (older), `after`
 * backward (newer). Cost stays proportional to the page, however deep, at a million rows.
 */
export function listTasks(db: Db, actor: Actor, raw: { filter?: unknown; cursor?: Cursor; limit?: number }) {
  const filter = parse(listFilterSchema, raw.filter ?? {});
  const limit = Math.min(Math.max(raw.limit ?? 30, 1), 100);
  const where = filterWhere(db, actor.organizationId, filter);
  const { before, after } = raw.cursor ?? {};
  const backward = after !== undefined && before === undefined;
  const rows = db
    .select(listColumns)
    .from(tasks)
    .innerJoin(devices, eq(devices.id, tasks.deviceId))
    .innerJoin(organization, eq(organization.id, tasks.organizationId))
    .leftJoin(fanouts, eq(fanouts.id, tasks.fanoutId))
    .where(and(where, before !== undefined ? lt(tasks.id, before) : undefined, backward ? gt(tasks.id, after) : undefined))
    .orderBy(backward ? asc(tasks.id) : desc(tasks.id))
    .limit(limit + 1)
    .all() as TaskListItem[];
  const more = rows.length > limit;
  const items = rows.slice(0, limit);
  if (backward) items.reverse();
  return {
    filter,
    items,
    // Whether pages exist on either side; a first page (no cursor) has nothing newer.
    hasOlder: backward ? before !== undefined || items.length > 0 : more,
    hasNewer: backward ? more : before !== undefined,
  };
}

/** Offset pages with a total, for the JSON API's `page`/`per_page` contract. */
export function pageTasks(db: Db, actor: Actor, raw: { filter?: unknown; page: number; perPage: number }) {
  const filter = parse(listFilterSchema, raw.filter ?? {});
  const where = filterWhere(db, actor.organizationId, filter);
  const total = db.select({ n: count() }).from(tasks).where(where).get()!.n;
  const items = db
    .select(listColumns)
    .from(tasks)
    .innerJoin(devices, eq(devices.id, tasks.deviceId))
    .innerJoin(organization, eq(organization.id, tasks.organizationId))
    .leftJoin(fanouts, eq(fanouts.id, tasks.fanoutId))
    .where(where)
    .orderBy(desc(tasks.id))
    .limit(raw.perPage)
    .offset((raw.page - 1) * raw.perPage)
    .all() as TaskListItem[];
  return { items, total, page: raw.page, perPage: raw.perPage, pages: Math.max(1, Math.ceil(total / raw.perPage)) };
}

/** One task with everything its detail page shows; another organization's is not found. */
export function getTask(db: Db, actor: Actor, rawCode: unknown) {
  const code = parse(taskCodeSchema, rawCode);
  const row = db
    .select({
      task: tasks,
      device: displayNameSql,
      deviceStatus: devices.status,
      organization: organization.name,
      fanout: fanouts.code,
      fanoutTotal: fanouts.total,
      createdBy: user.email,
    })
    .from(tasks)
    .innerJoin(devices, eq(devices.id, tasks.deviceId))
    .innerJoin(organization, eq(organization.id, tasks.organizationId))
    .leftJoin(fanouts, eq(fanouts.id, tasks.fanoutId))
    .leftJoin(user, eq(user.id, tasks.createdBy))
    .where(and(eq(tasks.code, code), eq(tasks.organizationId, actor.organizationId)))
    .get();
  if (!row) throw new NotFoundError(`Task ${code}`);
  const reruns = db
    .select({ code: tasks.code, status: tasks.status })
    .from(tasks)
    .where(and(eq(tasks.rerunOf, code), eq(tasks.organizationId, actor.organizationId)))
    .orderBy(asc(tasks.id))
    .all();
  return { ...row.task, device: row.device, deviceStatus: row.deviceStatus, organization: row.organization, fanout: row.fanout, fanoutTotal: row.fanoutTotal, createdByEmail: row.createdBy, reruns };
}
export type TaskDetail = ReturnType<typeof getTask>;

export type FanoutCounts = Record<TaskStatus, number>;

export function emptyCounts(): FanoutCounts {
  return Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as FanoutCounts;
}

/** Counts per status of the given fan-outs, from the (fanout_id, status) index. */
export function fanoutCounts(db: Db, fanoutIds: number[]): Map<number, FanoutCounts> {
  const out = new Map<number, FanoutCounts>();
  if (!fanoutIds.length) return out;
  const rows = db
    .select({ fanoutId: tasks.fanoutId, status: tasks.status, n: count() })
    .from(tasks)
    .where(inArray(tasks.fanoutId, fanoutIds))
    .groupBy(tasks.fanoutId, tasks.status)
    .all();
  for (const r of rows) {
    const c = out.get(r.fanoutId!) ?? out.set(r.fanoutId!, emptyCounts()).get(r.fanoutId!)!;
    c[r.status] = r.n;
  }
  return out;
}

/** Fan-outs of the organization that still have open tasks (or just finished), newest first. */
export function activeFanouts(db: Db, actor: Actor, opts: { finishedWithinMs?: number; limit?: number } = {}) {
  const since = new Date(Date.now() - (opts.finishedWithinMs ?? 60_000));
  const open = sql`exists (select 1 from ${tasks} where ${tasks.fanoutId} = ${fanouts.id} and ${tasks.status} in (${sql.raw(sqlList(OPEN_STATUSES))}))`;
  const recent = sql`exists (select 1 from ${tasks} where ${tasks.fanoutId} = ${fanouts.id} and ${tasks.finishedAt} >= ${since.getTime()})`;
  const rows = db
    .select()
    .from(fanouts)
    .where(
      and(
        eq(fanouts.organizationId, actor.organizationId),
        gt(fanouts.total, 1),
        // No fan-out can stay open past its longest time to live plus the longest lease.
        gt(fanouts.createdAt, new Date(Date.now() - OPEN_HORIZON_MS)),
        sql`(${open} or ${recent})`,
      ),
    )
    .orderBy(desc(fanouts.id))
    .limit(opts.limit ?? 5)
    .all();
  const counts = fanoutCounts(db, rows.map((r) => r.id));
  return rows.map((f) => ({ ...f, counts: counts.get(f.id) ?? emptyCounts() }));
}
