import { statusIs, fanoutIsOpen } from "./terms";
import { and, asc, count, desc, eq, gt, gte, inArray, lte, or, sql, type SQL } from "drizzle-orm";
import { equalsWithoutItsIndex } from "../../db/portable";
import { breathe, pacer } from "../../db/transaction";
import { z } from "zod";
import type { DbOrTx } from "../../db/client";
import type { Ctx } from "../../db/transaction";
import { deviceOus, devices, fanouts, ous, scheduleRuns, schedules, tasks, user, type FanoutTarget, type RolloutPlan } from "../../db/schema";
import { nextWaveAt, policySummary, waveState, type WaveState } from "../../rules/rollouts";
import { FAILURE_PREFIX, FANOUT_OUTCOME_WHERE, FANOUT_OUTCOMES, fanoutOutcome, tasksIn, type FanoutOutcome } from "../../rules/fanouts";
import { TASK_STATUSES, type TaskStatus, type TaskType } from "../../rules/tasks";
import type { ActorCtx } from "../actor";
import { NotFoundError } from "../errors";
import { parse } from "../validation";
import { failureGroup } from "./failures";
import { displayNameSql, keyset, type Cursor } from "./queries";
import { taskCodeSchema, taskTypeSchema } from "./schemas";

// What the fan-out list and the fan-out page (the cockpit) read. Counts come from the
// fan-out row's bookkeeping and the (fanout_id, status) index; failure groups and durations
// from their own partial indexes (db/schema): a 100,000-task fan-out is never read row by row.

export type FanoutCounts = Record<TaskStatus, number>;

const emptyCounts = () => Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as FanoutCounts;

/** Each open status counted from the (fanout_id, status) index, in the same statement as the row. */
const openCount = (s: TaskStatus) => sql<number>`(select count(*) from ${tasks} where ${tasks.fanoutId} = ${fanouts.id} and ${statusIs(s)})`.mapWith(Number);

const summaryColumns = {
  id: fanouts.id,
  organizationId: fanouts.organizationId,
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
  pausedAt: fanouts.pausedAt,
  pauseReason: fanouts.pauseReason,
  rollout: fanouts.rollout,
  wave: fanouts.wave,
  waveOpenedAt: fanouts.waveOpenedAt,
  waveFinishedAt: fanouts.waveFinishedAt,
  scheduled: openCount("SCHEDULED"),
  pending: openCount("PENDING"),
  inProgress: openCount("IN_PROGRESS"),
  createdByEmail: user.email,
};
type SummaryRow = Awaited<ReturnType<typeof selectSummaries>>[number];

/** A fan-out as the bars, the list and the live channel show it. */
export type FanoutSummary = {
  id: number;
  organizationId: string;
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
  /** While paused: since when, and why ("Paused by …"). */
  pausedAt: Date | null;
  pauseReason: string | null;
  /** A staged rollout's policy and where it stands; null for a fan-out issued all at once. */
  rollout: RolloutView | null;
};

/** Where a staged rollout stands (rules/rollouts.ts). */
export type RolloutView = {
  policy: RolloutPlan;
  summary: string;
  wave: number;
  waves: number;
  state: WaveState;
  waveOpenedAt: Date | null;
  waveFinishedAt: Date | null;
  /** When the next wave opens by itself (a timed pause); null if it waits for Continue or nothing. */
  nextWaveAt: Date | null;
};

function rolloutView(r: Pick<SummaryRow, "rollout" | "wave" | "waveOpenedAt" | "waveFinishedAt" | "openTasks">): RolloutView | null {
  if (!r.rollout || r.wave === null) return null;
  const at = { wave: r.wave, waves: r.rollout.sizes.length, waveFinishedAt: r.waveFinishedAt };
  return {
    policy: r.rollout,
    summary: policySummary(r.rollout),
    wave: r.wave,
    waves: r.rollout.sizes.length,
    // A fan-out whose every task has finished (cancelled, say) is done, whatever wave it stood at.
    state: r.openTasks === 0 ? "done" : waveState(at, r.rollout.between),
    waveOpenedAt: r.waveOpenedAt,
    waveFinishedAt: r.waveFinishedAt,
    nextWaveAt: r.openTasks === 0 ? null : nextWaveAt(at, r.rollout.between),
  };
}

function toSummary(r: SummaryRow): FanoutSummary {
  const counts = emptyCounts();
  counts.SCHEDULED = r.scheduled;
  counts.PENDING = r.pending;
  counts.IN_PROGRESS = r.inProgress;
  counts.FAILED = r.failedTasks;
  counts.EXPIRED = r.expiredTasks;
  counts.CANCELLED = r.cancelledTasks;
  counts.COMPLETED = r.total - tasksIn(counts, TASK_STATUSES);
  return {
    id: r.id,
    organizationId: r.organizationId,
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
    pausedAt: r.openTasks > 0 ? r.pausedAt : null,
    pauseReason: r.openTasks > 0 ? r.pauseReason : null,
    rollout: rolloutView(r),
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
  const open = await selectSummaries(db).where(and(mine, fanoutIsOpen(true))).orderBy(desc(fanouts.id)).limit(limit);
  const recent = await selectSummaries(db)
    .where(and(mine, fanoutIsOpen(false), sql`${fanouts.finishedAt} >= ${since.getTime()}`))
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
export async function listFanouts(ctx: ActorCtx, raw: { filter?: unknown; cursor?: Cursor; limit?: number }) {
  const { db, actor } = ctx;
  const filter = parse(fanoutListFilterSchema, raw.filter ?? {});
  const limit = Math.min(Math.max(raw.limit ?? 25, 1), 100);
  const k = keyset(fanouts.id, raw.cursor);
  const rows = await selectSummaries(db)
    .where(and(listWhere(actor.organizationId, filter), k.where))
    .orderBy(k.order)
    .limit(limit + 1);
  const { items, ...sides } = k.page(rows, limit);
  return { filter, items: items.map(toSummary), ...sides };
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

export type FailureGroup = { group: string; count: number; example: string; tasks: { code: string; device: string }[] };

/** Groups read per page, and tasks shown per group. */
const GROUPS_SHOWN = 20;
const TASKS_PER_GROUP = 10;
/** FAILED tasks read per statement. */
const FAILED_PAGE = 2_000;

/** A message as failure groups read it: its first FAILURE_PREFIX characters, however long the message (an agent's may be 64 KiB). */
export const messageHead = sql<string | null>`substr(${tasks.message}, 1, ${sql.raw(String(FAILURE_PREFIX))})`;

/**
 * A fan-out's FAILED tasks grouped by failureGroup (lib/tasks/failures.ts), largest first:
 * one pass over its FAILED tasks through the (fanout_id, status) index, oldest first, reading
 * each message's head only and each message's group found in memory; each group keeps its
 * first few tasks (code and device), whose devices are looked up by key for the groups shown.
 */
export async function failureGroups(h: DbOrTx, fanoutId: number): Promise<{ groups: FailureGroup[]; more: number }> {
  const merged = new Map<string, { count: number; example: string; tasks: { code: string; deviceId: string }[] }>();
  const pace = pacer();
  let last = 0;
  for (;;) {
    const page = await h
      .select({ id: tasks.id, code: tasks.code, deviceId: tasks.deviceId, head: messageHead })
      .from(tasks)
      .where(and(eq(tasks.fanoutId, fanoutId), statusIs("FAILED"), gt(tasks.id, last)))
      .orderBy(asc(tasks.id))
      .limit(FAILED_PAGE);
    for (const [i, t] of page.entries()) {
      // A message seen for the first time is normalised (~20 µs): a turn of the loop every stretch (`pacer()`) of it.
      if (i % 256 === 255) await pace();
      const g = failureGroup(t.head);
      const m = merged.get(g) ?? merged.set(g, { count: 0, example: t.head ?? "", tasks: [] }).get(g)!;
      m.count++;
      if (m.tasks.length < TASKS_PER_GROUP) m.tasks.push({ code: t.code, deviceId: t.deviceId });
    }
    if (page.length < FAILED_PAGE) break;
    last = page[page.length - 1].id;
  }
  // Largest first; equal counts in a stable order (a code-point comparison: thousands of groups of one are common).
  const sorted = [...merged.entries()].sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, GROUPS_SHOWN);
  const ids = [...new Set(sorted.flatMap(([, m]) => m.tasks.map((t) => t.deviceId)))];
  const names = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 500) {
    for (const d of await h.select({ id: devices.id, name: displayNameSql }).from(devices).where(inArray(devices.id, ids.slice(i, i + 500)))) names.set(d.id, d.name);
  }
  const groups = sorted.map(([group, m]) => ({
    group,
    count: m.count,
    example: m.example,
    tasks: m.tasks.map((t) => ({ code: t.code, device: names.get(t.deviceId) ?? "" })),
  }));
  return { groups, more: Math.max(0, merged.size - GROUPS_SHOWN) };
}

/** Offline devices listed at most. */
const OFFLINE_SHOWN = 50;

/**
 * The fan-out's tasks waiting (PENDING) for devices that are offline now: they cannot answer
 * until their agent reconnects, so the pace leaves them out and the page lists them apart.
 */
export async function offlineWaiting(h: DbOrTx, fanoutId: number) {
  const where = and(eq(tasks.fanoutId, fanoutId), statusIs("PENDING"), eq(devices.online, false));
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
        .orderBy(asc(tasks.id))
        .limit(OFFLINE_SHOWN)
    : [];
  // The longest silent first (never seen before all); sorted here, among the few shown.
  shown.sort((a, b) => (a.lastHeartbeatAt?.getTime() ?? -Infinity) - (b.lastHeartbeatAt?.getTime() ?? -Infinity));
  const at = (ms: number | null) => (ms === null || Number.isNaN(ms) ? null : new Date(ms));
  return {
    count: summary.n,
    lastSeenFirst: at(summary.lastSeenFirst),
    lastSeenLast: at(summary.lastSeenLast),
    expiresFirst: at(summary.expiresFirst),
    devices: shown,
  };
}

/** The duration expression, spelled as the partial index spells it (db/schema). */
const DURATION = sql.raw("(finished_at - started_at)");
/** Tasks that ran to the end (started and finished), as the index's predicate says it. */
const RAN = sql`${DURATION} is not null`;

/** Started → finished of the fan-out's tasks that ran: p50, p95 and the slowest, walked along the partial index. */
export async function fanoutDurations(h: DbOrTx, fanoutId: number) {
  const mine = and(eq(tasks.fanoutId, fanoutId), RAN);
  const [{ n }] = await h.select({ n: count() }).from(tasks).where(mine);
  if (!n) return { count: 0, p50Ms: null, p95Ms: null, slowest: [] };
  // Each statement walks up to the whole index (10–15 ms at 100,000 here): a turn of the loop between them.
  const at = async (q: number) => {
    await breathe();
    const [row] = await h
      .select({ d: sql<number>`${DURATION}`.mapWith(Number) })
      .from(tasks)
      .where(mine)
      .orderBy(DURATION)
      .limit(1)
      .offset(Math.floor((n - 1) * q));
    return row.d;
  };
  await breathe();
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

/**
 * The fan-out's tasks in windows of `size` ids of the primary key, oldest first, with a turn of
 * the event loop between windows: for reads of every task of a fan-out at constant memory (its
 * counts per OU, its export). A fan-out's tasks are written by one statement or a few, so their
 * ids are nearly contiguous: each window is one range scan of the primary key filtered to the
 * fan-out, which needs no index of its own and never sorts. SQLite would rather walk the
 * fan-out's index and sort all of it for every window, hence equalsWithoutItsIndex.
 */
export async function* fanoutWindows<S extends Record<string, unknown>>(h: DbOrTx, fanoutId: number, size: number, select: (window: SQL) => Promise<S[]>): AsyncGenerator<S[]> {
  // The first and last id, status by status: each is one step into the (fanout_id, status)
  // index, where a plain min over the fan-out would walk all its entries (30 ms of the loop
  // at 100,000 on SQLite).
  const end = (f: "min" | "max", s: TaskStatus) => sql<number | null>`(select ${sql.raw(f)}(${tasks.id}) from ${tasks} where ${tasks.fanoutId} = ${fanoutId} and ${statusIs(s)})`;
  const [ends] = await h
    .select(Object.fromEntries(TASK_STATUSES.flatMap((s) => [[`lo_${s}`, end("min", s)], [`hi_${s}`, end("max", s)]])))
    .from(fanouts)
    .where(eq(fanouts.id, fanoutId));
  const found = Object.values(ends ?? {})
    .filter((v) => v !== null)
    .map(Number);
  if (!found.length) return;
  const [lo, hi] = [Math.min(...found), Math.max(...found)];
  for (let from = lo; from <= hi; from += size) {
    // SQLite's reads are synchronous and callers await promises: without a turn of the loop
    // between windows, a whole fan-out would be read as one long stretch of microtasks.
    if (from > lo) await breathe();
    const to = Math.min(from + size - 1, hi);
    const rows = await select(and(gte(tasks.id, from), lte(tasks.id, to), equalsWithoutItsIndex(tasks.fanoutId, fanoutId))!);
    if (rows.length) yield rows;
  }
}

/** Memberships read per statement: an organization of 100,000 devices is read a page at a time, with a turn of the loop between pages. */
const MEMBERSHIP_PAGE = 5_000;

/** The OU names of devices, by device id, for the memberships `where` picks. */
export async function ouNamesOf(h: DbOrTx, where: SQL | undefined): Promise<Map<string, string[]>> {
  const names = new Map<string, string[]>();
  for (let after: { deviceId: string; ouId: number } | null = null; ; ) {
    if (after) await breathe();
    const from: SQL | undefined = after ? or(gt(deviceOus.deviceId, after.deviceId), and(eq(deviceOus.deviceId, after.deviceId), gt(deviceOus.ouId, after.ouId))) : undefined;
    const links = await h
      .select({ deviceId: deviceOus.deviceId, ouId: deviceOus.ouId, name: ous.name })
      .from(deviceOus)
      .innerJoin(ous, eq(ous.id, deviceOus.ouId))
      .where(and(where, from))
      .orderBy(asc(deviceOus.deviceId), asc(deviceOus.ouId))
      .limit(MEMBERSHIP_PAGE);
    for (const l of links) (names.get(l.deviceId) ?? names.set(l.deviceId, []).get(l.deviceId)!).push(l.name);
    if (links.length < MEMBERSHIP_PAGE) return names;
    after = links[links.length - 1];
  }
}

/**
 * Counts per status per OU of the fan-out's devices (the OUs named by its target, or all of
 * them): the organization's OU memberships read once, then the fan-out's tasks window by
 * window (two columns each), counted in memory.
 */
export async function fanoutByOu(h: DbOrTx, fanout: { id: number; organizationId: string; target: FanoutTarget }) {
  const ousOf = await ouNamesOf(h, and(eq(ous.organizationId, fanout.organizationId), fanout.target.ous?.length ? inArray(ous.name, fanout.target.ous) : undefined));
  const byOu = new Map<string, FanoutCounts>();
  const windows = fanoutWindows(h, fanout.id, 5_000, (window) => h.select({ deviceId: tasks.deviceId, status: tasks.status }).from(tasks).where(window));
  for await (const rows of windows) {
    for (const r of rows) {
      for (const ou of ousOf.get(r.deviceId) ?? []) {
        const c = byOu.get(ou) ?? byOu.set(ou, emptyCounts()).get(ou)!;
        c[r.status]++;
      }
    }
  }
  return [...byOu.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([ou, counts]) => ({ ou, counts }));
}

/** The fan-out a fan-out retried, and those that retried it, oldest first. */
async function retryLinks(h: DbOrTx, f: { id: number; retryOf: number | null }) {
  const of = f.retryOf === null ? null : ((await h.select({ code: fanouts.code }).from(fanouts).where(eq(fanouts.id, f.retryOf)).limit(1))[0]?.code ?? null);
  const retries = (await selectSummaries(h).where(eq(fanouts.retryOf, f.id)).orderBy(asc(fanouts.id))).map(toSummary);
  return { retryOfCode: of, retries };
}

/** The schedule whose run issued a fan-out, and the run's due time; null for one a person or token issued. */
async function issuingSchedule(h: DbOrTx, fanoutId: number) {
  const [row] = await h
    .select({ id: schedules.id, name: schedules.name, dueAt: scheduleRuns.dueAt })
    .from(scheduleRuns)
    .innerJoin(schedules, eq(schedules.id, scheduleRuns.scheduleId))
    .where(eq(scheduleRuns.fanoutId, fanoutId))
    .limit(1);
  return row ?? null;
}

/** A fan-out's counts as one string: every move of a task changes them (it leaves one status for another). */
const countsKey = (f: FanoutSummary) => `${f.id}:${TASK_STATUSES.map((s) => f.counts[s]).join(",")}`;

/** A small map that forgets its oldest entries past `max`. */
function remembered<V>(max: number) {
  const map = new Map<string, V>();
  return {
    get: (k: string) => map.get(k),
    set(k: string, v: V) {
      map.delete(k);
      map.set(k, v);
      while (map.size > max) map.delete(map.keys().next().value!);
    },
    delete: (k: string) => map.delete(k),
  };
}

/**
 * The failure groups and the durations of a fan-out, kept per process under the counts they
 * depend on. FAILED and COMPLETED are final: a task that reached them never leaves, so while
 * the FAILED count is the same the failed tasks are the same, and while COMPLETED and FAILED
 * are the same so are the tasks that ran. A running fan-out's page is read again after each
 * move; most moves (a start, a cancel, an expiry) change neither. An entry lives a minute.
 */
const derived = remembered<{ key: string; at: number; value: Promise<unknown> }>(400);
const DERIVED_TTL_MS = 60_000;

/** What `read` gives, kept under `slot` (one entry per fan-out and kind) while `key` is the same. */
function keptUnder<T>(slot: string, key: string, read: () => Promise<T>): Promise<T> {
  const hit = derived.get(slot);
  if (hit && hit.key === key && Date.now() - hit.at < DERIVED_TTL_MS) return hit.value as Promise<T>;
  const value = read();
  derived.set(slot, { key, at: Date.now(), value });
  // A failed read is not kept.
  value.catch(() => derived.delete(slot));
  return value;
}

async function failuresAndDurations(h: DbOrTx, fanout: FanoutSummary) {
  const { FAILED, COMPLETED } = fanout.counts;
  return {
    failures: await keptUnder(`failures:${fanout.id}`, `${FAILED}`, () => failureGroups(h, fanout.id)),
    durations: await keptUnder(`durations:${fanout.id}`, `${COMPLETED}:${FAILED}`, () => fanoutDurations(h, fanout.id)),
  };
}

/**
 * Counts per OU read every task of the fan-out (a device's OUs are not on its tasks): ~150 ms
 * at 100,000 here. While the fan-out runs, a look at it is answered with the last counts and
 * their time, and counted again behind the answer when they are older than BY_OU_STALE_MS (one
 * count at a time per fan-out). A first look, and any look once the fan-out has ended, is
 * counted exactly before the answer.
 */
const byOuKept = remembered<{ key: string; at: number; value: ByOu; counting?: Promise<void> }>(200);
const BY_OU_STALE_MS = 5_000;
type ByOu = Awaited<ReturnType<typeof fanoutByOu>>;

async function byOuOf(h: DbOrTx, fanout: FanoutSummary): Promise<{ byOu: ByOu; asOf: Date | null }> {
  const key = countsKey(fanout);
  const kept = byOuKept.get(String(fanout.id));
  // OU memberships change without a task moving: what is kept is counted again after a minute.
  if (kept?.key === key && Date.now() - kept.at < DERIVED_TTL_MS) return { byOu: kept.value, asOf: null };
  const count = async () => {
    const at = Date.now();
    const value = await fanoutByOu(h, fanout);
    byOuKept.set(String(fanout.id), { key, at, value });
    return value;
  };
  const running = fanout.outcome === "running";
  if (!kept || !running) return { byOu: await count(), asOf: null };
  if (Date.now() - kept.at >= BY_OU_STALE_MS && !kept.counting) {
    kept.counting = count().then(
      () => undefined,
      (e: unknown) => {
        kept.counting = undefined;
        console.error(`Counting fan-out ${fanout.code} per OU failed`, e);
      },
    );
  }
  return { byOu: kept.value, asOf: new Date(kept.at) };
}

/** Everything the fan-out page shows, read for the actor's organization. */
export async function fanoutCockpit(ctx: ActorCtx, rawCode: unknown) {
  const fanout = await getFanout(ctx, rawCode);
  const { db } = ctx;
  // SQLite's reads hold the loop while they run: at 100,000 tasks each part is several
  // milliseconds, and the loop turns between them.
  const pace = pacer();
  const { failures, durations } = await failuresAndDurations(db, fanout);
  await pace();
  const offline = await offlineWaiting(db, fanout.id);
  await pace();
  const spansOus = Boolean(fanout.target.all || (fanout.target.ous?.length ?? 0) > 0);
  const ou = spansOus ? await byOuOf(db, fanout) : { byOu: [], asOf: null };
  await pace();
  const links = await retryLinks(db, fanout);
  const schedule = await issuingSchedule(db, fanout.id);
  // Counts per OU when the target spans OUs: an organization-wide target over a single OU says nothing more than the bar.
  const byOu = ou.byOu.length > 1 || fanout.target.ous?.length ? ou.byOu : [];
  return { fanout, failures, offline, durations, byOu, byOuAsOf: ou.asOf, ...links, schedule };
}
export type FanoutCockpit = Awaited<ReturnType<typeof fanoutCockpit>>;
