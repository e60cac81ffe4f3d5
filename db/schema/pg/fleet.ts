import { sql } from "drizzle-orm";
import { bigint, boolean, check, index, integer, pgTable, primaryKey, text, uniqueIndex } from "drizzle-orm/pg-core";
import { epochMs, rowId } from "./columns";
import { DEVICE_STATUSES } from "../../../rules/devices";
import { sqlList } from "../../../rules/sql";
import { AUDIT_RETENTION_DEFAULT_DAYS, TASK_RETENTION_DEFAULT_DAYS } from "../../../rules/retention";
import { organization } from "./auth";

/** Per-organization settings Taskwire adds to better-auth's organization row. */
export const orgSettings = pgTable("org_settings", {
  organizationId: text("organization_id")
    .primaryKey()
    .references(() => organization.id, { onDelete: "cascade" }),
  autoApprove: boolean("auto_approve").notNull().default(false),
  // Shown to ADMINs so they can enroll agents, hence kept readable (unlike device tokens).
  registrationToken: text("registration_token").notNull().unique(),
  taskRetentionDays: integer("task_retention_days").default(TASK_RETENTION_DEFAULT_DAYS),
  auditRetentionDays: integer("audit_retention_days").notNull().default(AUDIT_RETENTION_DEFAULT_DAYS),
});

export const ous = pgTable(
  "ous",
  {
    id: rowId("id").primaryKey().generatedByDefaultAsIdentity(),
    organizationId: text("organization_id")
      .notNull()
      .references(() => organization.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
  },
  (t) => [uniqueIndex("ous_org_name_uidx").on(t.organizationId, t.name)],
);

export const devices = pgTable(
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
    enrolledAt: epochMs("enrolled_at").notNull(),
    lastHeartbeatAt: epochMs("last_heartbeat_at"),
    online: boolean("online").notNull().default(false),
    // The last dispatch sequence number reserved for this device (lib/devices/connection.ts,
    // SEQ_BLOCK): every number sent to it is at most this, and every later reservation, on any
    // node or after a restart, starts above it, so the agent's replay check never sees a
    // number twice. A bigint: each connect reserves a block, used or not.
    lastSeq: bigint("last_seq", { mode: "number" }).notNull().default(0),
    // The node whose process holds the agent's connection (nodes.id), while online: a node
    // that dies leaves its devices to be marked offline by the others (lib/server/liveness.ts).
    nodeId: text("node_id"),
    deletedAt: epochMs("deleted_at"),
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

export const deviceOus = pgTable(
  "device_ous",
  {
    deviceId: text("device_id")
      .notNull()
      .references(() => devices.id, { onDelete: "cascade" }),
    ouId: rowId("ou_id")
      .notNull()
      .references(() => ous.id, { onDelete: "cascade" }),
  },
  (t) => [primaryKey({ columns: [t.deviceId, t.ouId] }), index("device_ous_ou_idx").on(t.ouId)],
);

