import { sql } from "drizzle-orm";
import { check, index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { SCHEDULE_RUN_OUTCOMES } from "../../../rules/schedules";
import { sqlList } from "../../../rules/sql";
import { TASK_TYPES } from "../../../rules/tasks";
import { organization, user } from "./auth";
import { fanouts } from "./tasks";

/**
 * Recurring work (rules/schedules.ts): a task spec, as the API takes it, issued as one fan-out
 * at each time its cron expression names in its time zone. `next_run_at` is the next due
 * time (null while paused); the clock claims a due time by moving it on, in the transaction
 * that writes the run, so one due time runs once across restarts and nodes.
 */
export const schedules = sqliteTable(
  "schedules",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    organizationId: text("organization_id")
      .notNull()
      .references(() => organization.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    type: text("type", { enum: TASK_TYPES }).notNull(),
    // The issue request as the API takes it (payload, targets, ttl_seconds, rollout), checked when saved and again at each run.
    spec: text("spec", { mode: "json" }).$type<ScheduleSpec>().notNull(),
    cron: text("cron").notNull(),
    timezone: text("timezone").notNull(),
    catchUp: integer("catch_up", { mode: "boolean" }).notNull().default(false),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    // Whose role a run acts with; a run with no owner left (removed, deleted) is skipped.
    ownerId: text("owner_id").references(() => user.id, { onDelete: "set null" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    nextRunAt: integer("next_run_at", { mode: "timestamp_ms" }),
    lastRunAt: integer("last_run_at", { mode: "timestamp_ms" }),
  },
  (t) => [
    uniqueIndex("schedules_org_name_uidx").on(t.organizationId, t.name),
    index("schedules_due_idx").on(t.nextRunAt).where(sql`enabled = 1 and next_run_at is not null`),
    check("schedules_type_check", sql.raw(`type in (${sqlList(TASK_TYPES)})`)),
  ],
);

export type ScheduleSpec = { payload?: unknown; targets: { devices?: string[]; ous?: string[]; all?: boolean }; ttl_seconds?: number; rollout?: unknown };

/** What became of each due time of a schedule: one row per due time, never two. */
export const scheduleRuns = sqliteTable(
  "schedule_runs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    scheduleId: integer("schedule_id")
      .notNull()
      .references(() => schedules.id, { onDelete: "cascade" }),
    dueAt: integer("due_at", { mode: "timestamp_ms" }).notNull(),
    ranAt: integer("ran_at", { mode: "timestamp_ms" }).notNull(),
    outcome: text("outcome", { enum: SCHEDULE_RUN_OUTCOMES }).notNull(),
    reason: text("reason"),
    // The fan-out it issued; null once the retention purge has taken it (or when none was).
    fanoutId: integer("fanout_id").references(() => fanouts.id, { onDelete: "set null" }),
  },
  (t) => [
    uniqueIndex("schedule_runs_due_uidx").on(t.scheduleId, t.dueAt),
    index("schedule_runs_fanout_idx").on(t.fanoutId).where(sql`fanout_id is not null`),
    check("schedule_runs_outcome_check", sql.raw(`outcome in (${sqlList(SCHEDULE_RUN_OUTCOMES)})`)),
  ],
);

export type Schedule = typeof schedules.$inferSelect;
export type ScheduleRun = typeof scheduleRuns.$inferSelect;
