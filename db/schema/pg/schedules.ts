import { sql } from "drizzle-orm";
import { boolean, check, index, jsonb, pgTable, text, uniqueIndex } from "drizzle-orm/pg-core";
import { SCHEDULE_RUN_OUTCOMES } from "../../../rules/schedules";
import { sqlList } from "../../../rules/sql";
import { TASK_TYPES } from "../../../rules/tasks";
import type { ScheduleSpec } from "../sqlite/schedules";
import { organization, user } from "./auth";
import { epochMs, rowId } from "./columns";
import { fanouts } from "./tasks";

/** Recurring work: see db/schema/sqlite/schedules.ts. */
export const schedules = pgTable(
  "schedules",
  {
    id: rowId("id").primaryKey().generatedByDefaultAsIdentity(),
    organizationId: text("organization_id")
      .notNull()
      .references(() => organization.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    type: text("type", { enum: TASK_TYPES }).notNull(),
    spec: jsonb("spec").$type<ScheduleSpec>().notNull(),
    cron: text("cron").notNull(),
    timezone: text("timezone").notNull(),
    catchUp: boolean("catch_up").notNull().default(false),
    enabled: boolean("enabled").notNull().default(true),
    ownerId: text("owner_id").references(() => user.id, { onDelete: "set null" }),
    createdAt: epochMs("created_at").notNull(),
    updatedAt: epochMs("updated_at").notNull(),
    nextRunAt: epochMs("next_run_at"),
    lastRunAt: epochMs("last_run_at"),
  },
  (t) => [
    uniqueIndex("schedules_org_name_uidx").on(t.organizationId, t.name),
    index("schedules_due_idx").on(t.nextRunAt).where(sql`enabled and next_run_at is not null`),
    check("schedules_type_check", sql.raw(`type in (${sqlList(TASK_TYPES)})`)),
  ],
);

export const scheduleRuns = pgTable(
  "schedule_runs",
  {
    id: rowId("id").primaryKey().generatedByDefaultAsIdentity(),
    scheduleId: rowId("schedule_id")
      .notNull()
      .references(() => schedules.id, { onDelete: "cascade" }),
    dueAt: epochMs("due_at").notNull(),
    ranAt: epochMs("ran_at").notNull(),
    outcome: text("outcome", { enum: SCHEDULE_RUN_OUTCOMES }).notNull(),
    reason: text("reason"),
    fanoutId: rowId("fanout_id").references(() => fanouts.id, { onDelete: "set null" }),
  },
  (t) => [
    uniqueIndex("schedule_runs_due_uidx").on(t.scheduleId, t.dueAt),
    index("schedule_runs_fanout_idx").on(t.fanoutId).where(sql`fanout_id is not null`),
    check("schedule_runs_outcome_check", sql.raw(`outcome in (${sqlList(SCHEDULE_RUN_OUTCOMES)})`)),
  ],
);
