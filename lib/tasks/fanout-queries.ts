import { and, asc, count, desc, eq, gt, inArray, isNotNull, lt, sql, type SQL } from "drizzle-orm";
import { z } from "zod";
import type { DbOrTx } from "../../db/client";
import type { Ctx } from "../../db/transaction";
import { deviceOus, devices, fanouts, ous, tasks, user, type FanoutTarget } from "../../db/schema";
import { FAILURE_PREFIX, FANOUT_OUTCOME_WHERE, FANOUT_OUTCOMES, fanoutOutcome, type FanoutOutcome } from "../../rules/fanouts";
import { TASK_STATUSES, type TaskStatus, type TaskType } from "../../rules/tasks";
import type { ActorCtx } from "../auth/actor";
import { NotFoundError } from "../errors";
import { parse } from "../validation";
import { failureGroup } from "./failures";
import { displayNameSql } from "./queries";
import { taskCodeSchema, taskTypeSchema } from "./schemas";

// What the fan-out list and the fan-out page (the cockpit) read. Counts come from the
// fan-out row's bookkeeping and the (fanout_id, status) index; failure groups and durations
// from their own partial indexes (db/schema): a 100,000-task fan-out is never read row by row.

export type FanoutCounts = Record<TaskStatus, number>;

/** Each open status counted from the (fanout_id, status) index, in the same statement as the row. */
const openCount = (s: TaskStatus) => sql<number>`(select count(*) from ${tasks} where ${tasks.fanoutId} = ${fanouts.id} and ${tasks.status} = ${s})`.mapWith(Number);

const summaryColumns = {
  id: fanouts.id,
  code: fanouts.code,
  type: fanouts.type,
  target: fanouts.target,
  total: fanouts.total,
  createdAt: fanouts.createdAt,
  createdBy: fanouts.createdBy,
  finishedAt: fanouts.finishedAt,
  openTasks: fanouts.openTasks,
  failedTasks: fanouts.failedTasks,
  expiredTasks: fanouts.expiredTasks,
  cancelledTasks: fanouts.cancelledTasks,
  retryOf: fanouts.retryOf,
  scheduled: openCount("SCHEDULED"),
  pending: openCount("PENDING"),
  inProgress: openCount("IN_PROGRESS"),
  createdByEmail: user.email,
};
type SummaryRow = Awaited<ReturnType<typeof selectSummaries>>[number];

/** A fan-out as the bars, the list and the live channel show it. */
export type FanoutSummary = {
  id: number;
  code: string;
  type: TaskType;
  target: FanoutTarget;
  total: number;
  createdAt: Date;
  createdByEmail: string | null;
  counts: FanoutCounts;
  lastFinishedAt: Date | null;
  outcome: FanoutOutcome;
  retryOf: number | null;
};

function toSummary(r: SummaryRow): FanoutSummary {
  const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as FanoutCounts;
  counts.SCHEDULED = r.scheduled;
  counts.PENDING = r.pending;
  counts.IN_PROGRESS = r.inProgress;
  counts.FAILED = r.failedTasks;
  counts.EXPIRED = r.expiredTasks;
  counts.CANCELLED = r.cancelledTasks;
  counts.COMPLETED = r.total - TASK_STATUSES.reduce((n, s) => n + counts[s], 0);
  return {
    id: r.id,
    code: r.code,
    type: r.type,
    target: r.target,
    total: r.total,
    createdAt: r.createdAt,
    createdByEmail: r.createdByEmail,
    counts,
    lastFinishedAt: r.openTasks === 0 ? r.finishedAt : null,
    outcome: fanoutOutcome(r),
    retryOf: r.retryOf,
  };
}

function selectSummaries(h: DbOrTx) {
  return h.select(summaryColumns).from(fanouts).leftJoin(user, eq(user.id, fanouts.createdBy));
}

/** Fan-outs with their live counts, for the progress bars and the live channel. */
export async function fanoutSummaries(ctx: Ctx, fanoutIds: number[]): Promise<FanoutSummary[]> {
  const out: FanoutSummary[] = [];
  for (let i = 0; i < fanoutIds.length; i += 500) out.push(...(await selectSummaries(ctx.db).where(inArray(fanouts.id, fanoutIds.slice(i, i + 500)))).map(toSummary));
  return out;
}

/**
 * Fan-outs of the organization that still have open tasks (or just finished), newest first.
 * Both facts live on the fan-out row (kept by the triggers of rules/sql.ts), each behind its own index:
 * two short index reads, however many tasks and fan-outs the organization has.
 */
export async function activeFanouts(ctx: ActorCtx, opts: { finishedWithinMs?: number; limit?: number } = {}) {
  const { db, actor } = ctx;
  const since = new Date(Date.now() - (opts.finishedWithinMs ?? 60_000));
  const limit = opts.limit ?? 5;
  const mine = and(eq(fanouts.organizationId, actor.organizationId), gt(fanouts.total, 1));
  const open = await selectSummaries(db).where(and(mine, gt(fanouts.openTasks, 0))).orderBy(desc(fanouts.id)).limit(limit);
  const recent = await selectSummaries(db)
    .where(and(mine, eq(fanouts.openTasks, 0), sql`${fanouts.finishedAt} >= ${since.getTime()}`))
    .orderBy(desc(fanouts.id))
    .limit(limit);
  return [...open, ...recent]
    .sort((a, b) => b.id - a.id)
    .slice(0, limit)
    .map(toSummary);
}

export const fanoutListFilterSchema = z.object({
  type: taskTypeSchema.optional(),
  outcome: z.enum(FANOUT_OUTCOMES, { error: () => `Unknown outcome; expected one of ${FANOUT_OUTCOMES.join(", ")}` }).optional(),
  by: z.string().trim().min(1).max(100, "Issued by is a user id").optional(),
});
export type FanoutListFilter = z.output<typeof fanoutListFilterSchema>;

function listWhere(organizationId: string, f: FanoutListFilter): SQL | undefined {
  return and(
    eq(fanouts.organizationId, organizationId),
    f.type ? eq(fanouts.type, f.type) : undefined,
    // The outcome rule's own condition on the row's bookkeeping (rules/fanouts.ts).
    f.outcome ? sql.raw(`(${FANOUT_OUTCOME_WHERE[f.outcome]})`) : undefined,
    f.by ? eq(fanouts.createdBy, f.by) : undefined,
  );
}

/** The fan-out list, newest first, keyset-paginated on the fan-out id like the task list. */
export async function listFanouts(ctx: ActorCtx, raw: { filter?: unknown; cursor?: { before?: number; after?: number }; limit?: number }) {
  const { db, actor } = ctx;
  const filter = parse(fanoutListFilterSchema, raw.filter ?? {});
  const limit = Math.min(Math.max(raw.limit ?? 25, 1), 100);
  const { before, after } = raw.cursor ?? {};
  const backward = after !== undefined && before === undefined;
  const rows = await selectSummaries(db)
    .where(and(listWhere(actor.organizationId, filter), before !== undefined ? lt(fanouts.id, before) : undefined, backward ? gt(fanouts.id, after) : undefined))
    .orderBy(backward ? asc(fanouts.id) : desc(fanouts.id))
    .limit(limit + 1);
  const more = rows.length > limit;
  const items = rows.slice(0, limit).map(toSummary);
  if (backward) items.reverse();
  return { filter, items, hasOlder: backward ? before !== undefined || items.length > 0 : more, hasNewer: backward ? more : before !== undefined };
}

/** Offset pages with a total, for the JSON API's `page`/`per_page` contract. */
export async function pageFanouts(ctx: ActorCtx, raw: { filter?: unknown; page: number; perPage: number }) {
  const { db, actor } = ctx;
  const filter = parse(fanoutListFilterSchema, raw.filter ?? {});
  const where = listWhere(actor.organizationId, filter);
  const [{ n: total }] = await db.select({ n: count() }).from(fanouts).where(where);
  const items = (
    await selectSummaries(db)
      .where(where)
      .orderBy(desc(fanouts.id))
      .limit(raw.perPage)
      .offset((raw.page - 1) * raw.perPage)
  ).map(toSummary);
  return { items, total, page: raw.page, perPage: raw.perPage, pages: Math.max(1, Math.ceil(total / raw.perPage)) };
}

/** Who issued the organization's fan-outs, for the list's "issued by" filter. */
export async function fanoutIssuers(ctx: ActorCtx): Promise<{ id: string; email: string }[]> {
  return ctx.db
    .selectDistinct({ id: user.id, email: user.email })
    .from(fanouts)
    .innerJoin(user, eq(user.id, fanouts.createdBy))
    .where(eq(fanouts.organizationId, ctx.actor.organizationId))
    .orderBy(asc(user.email));
}

/** The organization's fan-out by code, or not found. */
export async function findFanout(h: DbOrTx, organizationId: string, rawCode: unknown) {
  const code = parse(taskCodeSchema, rawCode);
  const [row] = await h
    .select()
    .from(fanouts)
    .where(and(eq(fanouts.code, code), eq(fanouts.organizationId, organizationId)))
    .limit(1);
  if (!row) throw new NotFoundError(`Fan-out ${code}`);
  return row;
}

/** One fan-out of the actor's organization with its target and live counts. */
export async function getFanout(ctx: ActorCtx, rawCode: unknown): Promise<FanoutSummary> {
  const row = await findFanout(ctx.db, ctx.actor.organizationId, rawCode);
  return (await fanoutSummaries(ctx, [row.id]))[0];
}

/** The failing message's indexed prefix, spelled as the partial index spells it (db/schema). */
const FAILED_PREFIX = sql.raw(`substr(message, 1, ${FAILURE_PREFIX})`);

export type FailureGroup = { group: string; count: number; example: string; tasks: { code: string; device: string; message: string | null }[] };

/** Groups read per page, and tasks shown per group. */
const GROUPS_SHOWN = 20;
const TASKS_PER_GROUP = 10;

/**
 * A fan-out's FAILED tasks grouped by failureGroup (lib/tasks/failures.ts), largest first:
 * the distinct prefixes and their counts come from the partial index, then merge in memory.
 * The first GROUPS_SHOWN groups carry a few of their tasks.
 */
export async function failureGroups(h: DbOrTx, fanoutId: number, opts: { tasksPerGroup?: number } = {}): Promise<{ groups: FailureGroup[]; more: number }> {
  const prefixes = await h
    .select({ prefix: sql<string | null>`${FAILED_PREFIX}`, n: count() })
    .from(tasks)
    .where(and(eq(tasks.fanoutId, fanoutId), eq(tasks.status, "FAILED")))
    .groupBy(FAILED_PREFIX);
  const merged = new Map<string, { count: number; prefixes: (string | null)[] }>();
  for (const p of prefixes) {
    const g = failureGroup(p.prefix);
    const m = merged.get(g) ?? merged.set(g, { count: 0, prefixes: [] }).get(g)!;
    m.count += p.n;
    m.prefixes.push(p.prefix);
  }
  const sorted = [...merged.entries()].sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]));
  const groups: FailureGroup[] = [];
  for (const [group, m] of sorted.slice(0, GROUPS_SHOWN)) {
    const rows = await groupTasks(h, fanoutId, m.prefixes, opts.tasksPerGroup ?? TASKS_PER_GROUP);
    groups.push({ group, count: m.count, example: rows[0]?.message ?? m.prefixes[0] ?? "", tasks: rows });
  }
  return { groups, more: Math.max(0, sorted.length - GROUPS_SHOWN) };
}

/** Prefixes looked up per statement. */
const PREFIXES_PER_QUERY = 500;

/** The FAILED tasks of a fan-out whose message starts with one of these prefixes, oldest first. */
async function groupTasks(h: DbOrTx, fanoutId: number, prefixes: (string | null)[], limit: number) {
  const named = prefixes.filter((p): p is string => p !== null).slice(0, PREFIXES_PER_QUERY);
  const hasNull = prefixes.includes(null);
  const which = [named.length ? inArray(FAILED_PREFIX, named) : undefined, hasNull ? sql`message is null` : undefined].filter(Boolean) as SQL[];
  return h
    .select({ code: tasks.code, device: displayNameSql, message: tasks.message })
    .from(tasks)
    .innerJoin(devices, eq(devices.id, tasks.deviceId))
    .where(and(eq(tasks.fanoutId, fanoutId), eq(tasks.status, "FAILED"), which.length === 1 ? which[0] : sql`(${sql.join(which, sql` or `)})`))
    .orderBy(asc(tasks.id))
    .limit(limit);
}

/** Offline devices listed at most. */
const OFFLINE_SHOWN = 50;

/**
 * The fan-out's tasks waiting (PENDING) for devices that are offline now: they cannot answer
 * until their agent reconnects, so the pace leaves them out and the page lists them apart.
 */
export async function offlineWaiting(h: DbOrTx, fanoutId: number) {
  const where = and(eq(tasks.fanoutId, fanoutId), eq(tasks.status, "PENDING"), eq(devices.online, false));
  const [summary] = await h
    .select({
      n: count(),
      lastSeenFirst: sql<number | null>`min(${devices.lastHeartbeatAt})`.mapWith(Number),
      lastSeenLast: sql<number | null>`max(${devices.lastHeartbeatAt})`.mapWith(Number),
      expiresFirst: sql<number | null>`min(${tasks.expiresAt})`.mapWith(Number),
    })
    .from(tasks)
    .innerJoin(devices, eq(devices.id, tasks.deviceId))
    .where(where);
  const shown = summary.n
    ? await h
        .select({ device: displayNameSql, lastHeartbeatAt: devices.lastHeartbeatAt, code: tasks.code, expiresAt: tasks.expiresAt })
        .from(tasks)
        .innerJoin(devices, eq(devices.id, tasks.deviceId))
        .where(where)
        .orderBy(sql`${devices.lastHeartbeatAt} is null`, asc(devices.lastHeartbeatAt), asc(tasks.id))
        .limit(OFFLINE_SHOWN)
    : [];
  const at = (ms: number | null) => (ms === null || Number.isNaN(ms) ? null : new Date(ms));
  return {
    count: summary.n,
    lastSeenFirst: at(summary.lastSeenFirst),
    lastSeenLast: at(summary.lastSeenLast),
    expiresFirst: at(summary.expiresFirst),
    devices: shown,
  };
}
export type OfflineWaiting = Awaited<ReturnType<typeof offlineWaiting>>;

/** The duration expression, spelled as the partial index spells it (db/schema). */
const DURATION = sql.raw("(finished_at - started_at)");
const RAN = and(isNotNull(tasks.startedAt), isNotNull(tasks.finishedAt));

/** Started → finished of the fan-out's tasks that ran: p50, p95 and the slowest, walked along the partial index. */
export async function fanoutDurations(h: DbOrTx, fanoutId: number) {
  const mine = and(eq(tasks.fanoutId, fanoutId), RAN);
  const [{ n }] = await h.select({ n: count() }).from(tasks).where(mine);
  if (!n) return { count: 0, p50Ms: null, p95Ms: null, slowest: [] };
  const at = async (q: number) => {
    const [row] = await h
      .select({ d: sql<number>`${DURATION}`.mapWith(Number) })
      .from(tasks)
      .where(mine)
      .orderBy(DURATION)
      .limit(1)
      .offset(Math.floor((n - 1) * q));
    return row.d;
  };
  const slowest = await h
    .select({ code: tasks.code, device: displayNameSql, status: tasks.status, ms: sql<number>`${DURATION}`.mapWith(Number) })
    .from(tasks)
    .innerJoin(devices, eq(devices.id, tasks.deviceId))
    .where(mine)
    .orderBy(desc(DURATION))
    .limit(5);
  return { count: n, p50Ms: await at(0.5), p95Ms: await at(0.95), slowest };
}
export type FanoutDurations = Awaited<ReturnType<typeof fanoutDurations>>;

/** Counts per status per OU of the fan-out's devices (the OUs named by its target, or all of them). */
export async function fanoutByOu(h: DbOrTx, fanout: { id: number; target: FanoutTarget }) {
  const rows = await h
    .select({ ou: ous.name, status: tasks.status, n: count() })
    .from(tasks)
    .innerJoin(deviceOus, eq(deviceOus.deviceId, tasks.deviceId))
    .innerJoin(ous, eq(ous.id, deviceOus.ouId))
    .where(and(eq(tasks.fanoutId, fanout.id), fanout.target.ous?.length ? inArray(ous.name, fanout.target.ous) : undefined))
    .groupBy(ous.name, tasks.status);
  const byOu = new Map<string, FanoutCounts>();
  for (const r of rows) {
    const c = byOu.get(r.ou) ?? byOu.set(r.ou, Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as FanoutCounts).get(r.ou)!;
    c[r.status] = r.n;
  }
  return [...byOu.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([ou, counts]) => ({ ou, counts }));
}

/** The fan-out a fan-out retried, and those that retried it, oldest first. */
async function retryLinks(h: DbOrTx, f: { id: number; retryOf: number | null }) {
  const of = f.retryOf === null ? null : ((await h.select({ code: fanouts.code }).from(fanouts).where(eq(fanouts.id, f.retryOf)).limit(1))[0]?.code ?? null);
  const retries = (await selectSummaries(h).where(eq(fanouts.retryOf, f.id)).orderBy(asc(fanouts.id))).map(toSummary);
  return { retryOfCode: of, retries };
}

/** Everything the fan-out page shows, read for the actor's organization. */
export async function fanoutCockpit(ctx: ActorCtx, rawCode: unknown) {
  const fanout = await getFanout(ctx, rawCode);
  const { db } = ctx;
  const spansOus = Boolean(fanout.target.all || (fanout.target.ous?.length ?? 0) > 0);
  const [failures, offline, durations, byOu, links] = [
    await failureGroups(db, fanout.id),
    await offlineWaiting(db, fanout.id),
    await fanoutDurations(db, fanout.id),
    spansOus ? await fanoutByOu(db, fanout) : [],
    await retryLinks(db, fanout),
  ];
  return { fanout, failures, offline, durations, byOu: byOu.length > 1 || fanout.target.ous?.length ? byOu : [], ...links };
}
export type FanoutCockpit = Awaited<ReturnType<typeof fanoutCockpit>>;
