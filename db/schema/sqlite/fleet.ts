import { sql } from "drizzle-orm";
import { AUDIT_RETENTION_DEFAULT_DAYS, TASK_RETENTION_DEFAULT_DAYS } from "../../../rules/retention";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { DEVICE_STATUSES } from "../../../rules/devices";
import { sqlList } from "../../../rules/sql";
import { organization } from "./auth";

/** Per-organization settings Taskwire adds to better-auth's organization row. */
export const orgSettings = sqliteTable("org_settings", {
  organizationId: text("organization_id")
    .primaryKey()
    .references(() => organization.id, { onDelete: "cascade" }),
  autoApprove: integer("auto_approve", { mode: "boolean" }).notNull().default(false),
  // Shown to ADMINs so they can enroll agents, hence kept readable (unlike device tokens).
  registrationToken: text("registration_token").notNull().unique(),
  // Days finished tasks are kept (rules/retention.ts); null keeps them forever.
  taskRetentionDays: integer("task_retention_days").default(TASK_RETENTION_DEFAULT_DAYS),
  // Days the audit trail is kept.
  auditRetentionDays: integer("audit_retention_days").notNull().default(AUDIT_RETENTION_DEFAULT_DAYS),
});

export const ous = sqliteTable(
  "ous",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    organizationId: text("organization_id")
      .notNull()
      .references(() => organization.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
  },
  (t) => [uniqueIndex("ous_org_name_uidx").on(t.organizationId, t.name)],
);

export const devices = sqliteTable(
  "devices",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id")
      .notNull()
      .references(() => organization.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    status: text("status", { enum: DEVICE_STATUSES }).notNull().default("PENDING"),
    agentVersion: text("agent_version"),
    tokenHash: text("token_hash"),
    enrolledAt: integer("enrolled_at", { mode: "timestamp_ms" }).notNull(),
    lastHeartbeatAt: integer("last_heartbeat_at", { mode: "timestamp_ms" }),
    online: integer("online", { mode: "boolean" }).notNull().default(false),
    // The last dispatch sequence number reserved for this device (lib/devices/connection.ts,
    // SEQ_BLOCK): every number sent to it is at most this, and every later reservation, on any
    // node or after a restart, starts above it, so the agent's replay check never sees a
    // number twice. 64-bit, as every SQLite integer.
    lastSeq: integer("last_seq").notNull().default(0),
    // The node whose process holds the agent's connection (nodes.id), while online: a node
    // that dies leaves its devices to be marked offline by the others (lib/server/liveness.ts).
    nodeId: text("node_id"),
    deletedAt: integer("deleted_at", { mode: "timestamp_ms" }),
  },
  (t) => [
    check("devices_status_check", sql.raw(`status in (${sqlList(DEVICE_STATUSES)})`)),
    // Names are unique among live devices only: a deleted device frees its name.
    uniqueIndex("devices_org_live_name_uidx").on(t.organizationId, t.name).where(sql`deleted_at is null`),
    index("devices_org_name_idx").on(t.organizationId, t.name),
    uniqueIndex("devices_token_hash_uidx").on(t.tokenHash),
    index("devices_node_idx").on(t.nodeId).where(sql`node_id is not null`),
  ],
);

export const deviceOus = sqliteTable(
  "device_ous",
  {
    deviceId: text("device_id")
      .notNull()
      .references(() => devices.id, { onDelete: "cascade" }),
    ouId: integer("ou_id")
      .notNull()
      .references(() => ous.id, { onDelete: "cascade" }),
  },
  (t) => [primaryKey({ columns: [t.deviceId, t.ouId] }), index("device_ous_ou_idx").on(t.ouId)],
);

export type Device = typeof devices.$inferSelect;
export type Ou = typeof ous.$inferSelect;
