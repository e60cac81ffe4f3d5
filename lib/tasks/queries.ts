import { statusIs } from "./terms";
import { and, asc, count, desc, eq, gt, lt, sql, type Column, type SQL } from "drizzle-orm";
import { cancelledBy } from "../audit/queries";
import type { DbOrTx } from "../../db/client";
import type { Ctx } from "../../db/transaction";
import { anyOf, containsText, equalsWithoutItsIndex } from "../../db/portable";
import { devices, fanouts, organization, taskCounts, tasks, user } from "../../db/schema";
import { DELETED_SUFFIX } from "../../rules/devices";
import type { TaskStatus } from "../../rules/tasks";
import type { ActorCtx } from "../actor";
import { NotFoundError } from "../errors";
import { parse } from "../validation";
import { listFilterSchema, taskCodeSchema, type ListFilter } from "./schemas";

/** A task's device as the list shows it: a deleted device keeps its tasks, under its name with the deleted suffix. */
export const displayNameSql = sql<string>`(${devices.name} || case when ${devices.deletedAt} is null then '' else ${DELETED_SUFFIX} end)`;

const listColumns = {
  id: tasks.id,
  code: tasks.code,
  type: tasks.type,
  status: tasks.status,
  device: displayNameSql,
  deviceId: tasks.deviceId,
  organization: organization.name,
  fanout: fanouts.code,
  startedAt: tasks.startedAt,
  finishedAt: tasks.finishedAt,
  scheduledAt: tasks.scheduledAt,
  wave: tasks.wave,
  waves: fanouts.waves,
  createdAt: tasks.createdAt,
  updatedAt: tasks.updatedAt,
  expiresAt: tasks.expiresAt,
  message: tasks.message,
};

/** Tasks as lists show them: with the device's shown name, the organization and the fan-out. */
function selectItems(h: DbOrTx) {
  return h
    .select(listColumns)
    .from(tasks)
    .innerJoin(devices, eq(devices.id, tasks.deviceId))
    .innerJoin(organization, eq(organization.id, tasks.organizationId))
    .leftJoin(fanouts, eq(fanouts.id, tasks.fanoutId));
}

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
  startedAt: Date | null;
  finishedAt: Date | null;
  scheduledAt: Date | null;
  /** Its wave, and how many its staged rollout has (rules/rollouts.ts); null for a fan-out issued all at once. */
  wave: number | null;
  waves: number | null;
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date;
  message: string | null;
};

/** The device filter walks the matching devices' tasks when they are at most 1/this of the fleet. */
const DEVICE_WALK_SHARE = 50;

const fleetSize = async (h: DbOrTx, organizationId: string) => (await h.select({ n: count() }).from(devices).where(eq(devices.organizationId, organizationId)))[0].n;

async function filterWhere(h: DbOrTx, organizationId: string, f: ListFilter): Promise<SQL | undefined> {
  const parts: (SQL | undefined)[] = [eq(tasks.organizationId, organizationId)];
  if (f.type) parts.push(eq(tasks.type, f.type));
  if (f.status) parts.push(statusIs(f.status));
  if (f.device) {
    // Resolve the substring to device ids first: a scan of the devices, not of the tasks.
    const ids = (
      await h
        .select({ id: devices.id })
        .from(devices)
        .where(and(eq(devices.organizationId, organizationId), containsText(displayNameSql, f.device)))
    ).map((d) => d.id);
    // As one parameter: a filter such as "fw" may match every device of a fleet of 100,000,
    // past the placeholders a statement may hold (SQLite's 32,766, PostgreSQL's 65,535).
    parts.push(anyOf(tasks.deviceId, ids));
    // A few devices of many: walk their own tasks through (device_id, id). Left to itself,
    // SQLite prefers the organization's indexes (they match the ORDER BY) and reads
    // newest-first past every other device's tasks — 70 ms for a page, 180 ms for the API's
    // count at a million tasks. equalsWithoutItsIndex keeps it off those indexes.
    if (ids.length && ids.length * DEVICE_WALK_SHARE <= (await fleetSize(h, organizationId))) parts[0] = equalsWithoutItsIndex(tasks.organizationId, organizationId);
  }
  if (f.fanout) {
    const [fo] = await h
      .select({ id: fanouts.id })
      .from(fanouts)
      .where(and(eq(fanouts.code, f.fanout), eq(fanouts.organizationId, organizationId)))
      .limit(1);
    parts.push(fo ? eq(tasks.fanoutId, fo.id) : sql`false`);
  }
  return and(...parts);
}

export type Cursor = { before?: number; after?: number };

/**
 * Keyset paging on an id column, newest first: `before` pages forward (older), `after`
 * backward (newer). Fetch `limit + 1` rows with `where` and `order`; `page` trims them and
 * says whether pages exist on either side (a first page, no cursor, has nothing newer).
 */
export function keyset(column: Column, cursor: Cursor = {}) {
  const { before, after } = cursor;
  const backward = after !== undefined && before === undefined;
  return {
    where: and(before !== undefined ? lt(column, before) : undefined, backward ? gt(column, after) : undefined),
    order: backward ? asc(column) : desc(column),
    page<T>(rows: T[], limit: number) {
      const more = rows.length > limit;
      const items = rows.slice(0, limit);
      if (backward) items.reverse();
      return { items, hasOlder: backward ? before !== undefined || items.length > 0 : more, hasNewer: backward ? more : before !== undefined };
    },
  };
}

/**
 * Newest first, keyset-paginated on the task id: `before` pages forward (older), `after`
 * backward (newer). Cost stays proportional to the page, however deep, at a million rows.
 */
export async function listTasks(ctx: ActorCtx, raw: { filter?: unknown; cursor?: Cursor; limit?: number }) {
  const { db, actor } = ctx;
  const filter = parse(listFilterSchema, raw.filter ?? {});
  const limit = Math.min(Math.max(raw.limit ?? 30, 1), 100);
  const where = await filterWhere(db, actor.organizationId, filter);
  const k = keyset(tasks.id, raw.cursor);
  const rows = (await selectItems(db)
    .where(and(where, k.where))
    .orderBy(k.order)
    .limit(limit + 1)) as TaskListItem[];
  return { filter, ...k.page(rows, limit) };
}

/**
 * The total of a list filtered by type and status only, from task_counts (kept by issuing
 * and the triggers; at most one row per type and status): counting the organization's tasks
 * themselves takes 35 ms at a million. A device or fan-out filter counts its own rows.
 */
async function countedTotal(h: DbOrTx, organizationId: string, f: ListFilter): Promise<number> {
  const [row] = await h
    .select({ n: sql<number>`coalesce(sum(${taskCounts.n}), 0)`.mapWith(Number) })
    .from(taskCounts)
    .where(and(eq(taskCounts.organizationId, organizationId), f.type ? eq(taskCounts.type, f.type) : undefined, f.status ? eq(taskCounts.status, f.status) : undefined))
    .limit(1);
  return row?.n ?? 0;
}

/** Offset pages with a total, for the JSON API's `page`/`per_page` contract. */
export async function pageTasks(ctx: ActorCtx, raw: { filter?: unknown; page: number; perPage: number }) {
  const { db, actor } = ctx;
  const filter = parse(listFilterSchema, raw.filter ?? {});
  const where = await filterWhere(db, actor.organizationId, filter);
  const total = filter.device || filter.fanout ? (await db.select({ n: count() }).from(tasks).where(where))[0].n : await countedTotal(db, actor.organizationId, filter);
  const items = (await selectItems(db)
    .where(where)
    .orderBy(desc(tasks.id))
    .limit(raw.perPage)
    .offset((raw.page - 1) * raw.perPage)) as TaskListItem[];
  return { items, total, page: raw.page, perPage: raw.perPage, pages: Math.max(1, Math.ceil(total / raw.perPage)) };
}

/** One task with everything its detail page shows; another organization's is not found. */
export async function getTask(ctx: ActorCtx, rawCode: unknown) {
  const { db, actor } = ctx;
  const code = parse(taskCodeSchema, rawCode);
  const [row] = await db
    .select({
      task: tasks,
      device: displayNameSql,
      deviceStatus: devices.status,
      organization: organization.name,
      fanout: fanouts.code,
      fanoutTotal: fanouts.total,
      waves: fanouts.waves,
      createdBy: user.email,
    })
    .from(tasks)
    .innerJoin(devices, eq(devices.id, tasks.deviceId))
    .innerJoin(organization, eq(organization.id, tasks.organizationId))
    .leftJoin(fanouts, eq(fanouts.id, tasks.fanoutId))
    .leftJoin(user, eq(user.id, tasks.createdBy))
    .where(and(eq(tasks.code, code), eq(tasks.organizationId, actor.organizationId)))
    .limit(1);
  if (!row) throw new NotFoundError(`Task ${code}`);
  const reruns = await db
    .select({ code: tasks.code, status: tasks.status })
    .from(tasks)
    .where(and(eq(tasks.rerunOf, code), eq(tasks.organizationId, actor.organizationId)))
    .orderBy(asc(tasks.id));
  // Who cancelled it is the audit trail's to say: the one record of who did what.
  const cancelledByLabel = row.task.status === "CANCELLED" ? await cancelledBy(ctx, { ...row.task, fanoutCode: row.fanout }) : null;
  return {
    ...row.task,
    device: row.device,
    deviceStatus: row.deviceStatus,
    organization: row.organization,
    fanout: row.fanout,
    fanoutTotal: row.fanoutTotal,
    waves: row.waves,
    createdByEmail: row.createdBy,
    cancelledBy: cancelledByLabel,
    reruns,
  };
}
export type TaskDetail = Awaited<ReturnType<typeof getTask>>;

const EXCERPT = 240;

export type LiveTask = TaskListItem;

/**
 * The latest state of tasks, as the live channel sends it, newest first: the given ids
 * (at most `limit`, the newest), or the given codes of one organization.
 */
export async function liveTasks(ctx: Ctx, which: { ids: number[] } | { organizationId: string; codes: string[] }, limit: number): Promise<LiveTask[]> {
  const keys = "ids" in which ? [...which.ids].sort((a, b) => b - a).slice(0, limit) : which.codes.slice(0, limit);
  const out: LiveTask[] = [];
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const rows = await selectItems(ctx.db)
      .where("ids" in which ? anyOf(tasks.id, chunk as number[]) : and(equalsWithoutItsIndex(tasks.organizationId, which.organizationId), anyOf(tasks.code, chunk as string[])))
      .orderBy(desc(tasks.id));
    for (const r of rows) out.push({ ...(r as LiveTask), message: r.message && r.message.length > EXCERPT ? `${r.message.slice(0, EXCERPT)}…` : r.message });
  }
  return out;
}
