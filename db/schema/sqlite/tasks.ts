import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex, type AnySQLiteColumn } from "drizzle-orm/sqlite-core";
import { sqlList } from "../../../rules/sql";
import type { RolloutPolicy } from "../../../rules/rollouts";
import { TASK_STATUSES, TASK_TYPES } from "../../../rules/tasks";
import { organization, user } from "./auth";
import { devices } from "./fleet";

export const fanouts = sqliteTable(
  "fanouts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    code: text("code").notNull(),
    organizationId: text("organization_id")
      .notNull()
      .references(() => organization.id, { onDelete: "cascade" }),
    type: text("type", { enum: TASK_TYPES }).notNull(),
    // JSON, as requested: { all: true } or the device and OU names.
    target: text("target", { mode: "json" }).$type<FanoutTarget>().notNull(),
    total: integer("total").notNull(),
    createdBy: text("created_by").references(() => user.id, { onDelete: "set null" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    // How many of its tasks are still SCHEDULED, PENDING or IN_PROGRESS, and when the last
    // of them finished: set when the fan-out is issued, kept by triggers (rules/sql.ts) on
    // every status change, so the "active fan-outs" bars read a few rows, not the tasks.
    openTasks: integer("open_tasks").notNull().default(0),
    finishedAt: integer("finished_at", { mode: "timestamp_ms" }),
    // Of its finished tasks, how many FAILED, EXPIRED and were CANCELLED (rules/fanouts.ts),
    // kept by the same triggers: the list's counts and outcome without reading the tasks.
    failedTasks: integer("failed_tasks").notNull().default(0),
    expiredTasks: integer("expired_tasks").notNull().default(0),
    cancelledTasks: integer("cancelled_tasks").notNull().default(0),
    // The fan-out this one retries (its failed tasks, say); its retries are found through the index.
    // While set, nothing new of this fan-out is dispatched (rules/fanouts.ts): when, by whom, and why.
    pausedAt: integer("paused_at", { mode: "timestamp_ms" }),
    pauseReason: text("pause_reason"),
    // A staged rollout (rules/rollouts.ts): its policy and wave sizes as issued, its time to
    // live (each task's expiry counts from its release), the wave open now and when it opened
    // and finished, and what the breaker had counted when the fan-out was last resumed (it
    // counts from there). Null for a fan-out issued all at once, but for its time to live, which
    // every fan-out keeps (a re-run or a retry of its tasks is issued with it again).
    rollout: text("rollout", { mode: "json" }).$type<RolloutPlan>(),
    ttlSeconds: integer("ttl_seconds"),
    wave: integer("wave"),
    waves: integer("waves"),
    waveOpenedAt: integer("wave_opened_at", { mode: "timestamp_ms" }),
    waveFinishedAt: integer("wave_finished_at", { mode: "timestamp_ms" }),
    breakerFinishedBase: integer("breaker_finished_base").notNull().default(0),
    breakerFailedBase: integer("breaker_failed_base").notNull().default(0),
    retryOf: integer("retry_of").references((): AnySQLiteColumn => fanouts.id, { onDelete: "set null" }),
  },
  (t) => [
    uniqueIndex("fanouts_code_uidx").on(t.code),
    index("fanouts_retry_of_idx").on(t.retryOf).where(sql`retry_of is not null`),
    index("fanouts_org_id_idx").on(t.organizationId, t.id),
    // The fan-outs still running, newest first; and those that finished lately.
    index("fanouts_open_idx").on(t.organizationId, t.id).where(sql`open_tasks > 0`),
    index("fanouts_org_finished_idx").on(t.organizationId, t.finishedAt),
    // The rollouts still running, for the driver's sweep (lib/tasks/rollout.ts).
    index("fanouts_rollout_open_idx").on(t.id).where(sql`rollout is not null and open_tasks > 0`),
  ],
);

/** A staged rollout's policy, and the sizes of its waves as planned for its target. */
export type RolloutPlan = RolloutPolicy & { sizes: number[] };

/** As requested: the whole organization, device and OU names, or (a retry) the fan-out, statuses and failure group retried. */
export type FanoutTarget = { all?: boolean; devices?: string[]; ous?: string[]; retry?: { of: string; statuses: string[]; group?: string } };

export const tasks = sqliteTable(
  "tasks",
  {
    // The rowid orders tasks by creation and is the keyset cursor of the list.
    id: integer("id").primaryKey({ autoIncrement: true }),
    code: text("code").notNull(),
    organizationId: text("organization_id")
      .notNull()
      .references(() => organization.id, { onDelete: "cascade" }),
    deviceId: text("device_id")
      .notNull()
      .references(() => devices.id),
    fanoutId: integer("fanout_id").references(() => fanouts.id),
    type: text("type", { enum: TASK_TYPES }).notNull(),
    status: text("status", { enum: TASK_STATUSES }).notNull(),
    payload: text("payload", { mode: "json" }).$type<Record<string, unknown> | null>(),
    message: text("message"),
    createdBy: text("created_by").references(() => user.id, { onDelete: "set null" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    scheduledAt: integer("scheduled_at", { mode: "timestamp_ms" }),
    expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
    startedAt: integer("started_at", { mode: "timestamp_ms" }),
    finishedAt: integer("finished_at", { mode: "timestamp_ms" }),
    // When an IN_PROGRESS task fails for want of a result: started at + the type's lease.
    leaseExpiresAt: integer("lease_expires_at", { mode: "timestamp_ms" }),
    // The old task is final and so immutable: the link back is found by querying rerun_of.
    rerunOf: text("rerun_of"),
    // Its wave in a staged rollout (rules/rollouts.ts); null for a fan-out issued all at once.
    wave: integer("wave"),
  },
  (t) => [
    check("tasks_status_check", sql.raw(`status in (${sqlList(TASK_STATUSES)})`)),
    check("tasks_type_check", sql.raw(`type in (${sqlList(TASK_TYPES)})`)),
    uniqueIndex("tasks_code_uidx").on(t.code),
    // The list: newest first within the organization, optionally narrowed by one filter.
    index("tasks_org_id_idx").on(t.organizationId, t.id),
    index("tasks_org_status_id_idx").on(t.organizationId, t.status, t.id),
    index("tasks_org_type_id_idx").on(t.organizationId, t.type, t.id),
    index("tasks_device_id_idx").on(t.deviceId, t.id),
    index("tasks_fanout_status_idx").on(t.fanoutId, t.status),
    index("tasks_rerun_of_idx").on(t.rerunOf).where(sql`rerun_of is not null`),
    // The clock: what fires, expires or runs out of lease next.
    index("tasks_scheduled_due_idx").on(t.scheduledAt).where(sql`status = 'SCHEDULED'`),
    index("tasks_pending_expiry_idx").on(t.expiresAt).where(sql`status = 'PENDING'`),
    index("tasks_lease_idx").on(t.leaseExpiresAt).where(sql`status = 'IN_PROGRESS'`),
    // A fan-out's durations in order, for the cockpit's percentiles (partial: tasks that never
    // ran pay nothing).
    // The predicate is the indexed expression itself: the index alone then answers the reads (covering).
    index("tasks_fanout_duration_idx").on(t.fanoutId, sql`(finished_at - started_at)`).where(sql`(finished_at - started_at) is not null`),
    // Dispatch on connect: a device's waiting tasks, oldest first.
    index("tasks_device_pending_idx").on(t.deviceId, t.id).where(sql`status = 'PENDING'`),
    // A rollout's waves: what is open or still waiting in each, in id order.
    index("tasks_fanout_wave_idx").on(t.fanoutId, t.wave, t.status, t.id).where(sql`wave is not null`),
  ],
);

/**
 * How many tasks each organization has of each type in each status: the JSON API's `total`
 * without counting a million rows on every page. Added to when tasks are issued, kept by
 * triggers (rules/sql.ts) on every status change and delete.
 */
export const taskCounts = sqliteTable(
  "task_counts",
  {
    organizationId: text("organization_id")
      .notNull()
      .references(() => organization.id, { onDelete: "cascade" }),
    type: text("type", { enum: TASK_TYPES }).notNull(),
    status: text("status", { enum: TASK_STATUSES }).notNull(),
    n: integer("n").notNull(),
  },
  (t) => [primaryKey({ columns: [t.organizationId, t.type, t.status] })],
);

export type Task = typeof tasks.$inferSelect;
export type Fanout = typeof fanouts.$inferSelect;
