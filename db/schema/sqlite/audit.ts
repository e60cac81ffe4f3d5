import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { AUDIT_ACTION_NAMES, AUDIT_TARGETS } from "../../../rules/audit";

/**
 * The audit trail of people's actions (rules/audit.ts): one row per change a person or an API
 * token made, written in the transaction of the change. Append-only: the database refuses to
 * update a row, and deletes one only for the retention purge (rules/sql.ts). It names its
 * organization, actor and target by value, without foreign keys, so that it outlives what it
 * names (a deleted device, a removed member, a revoked token).
 */
export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    // Null only for a failed sign-in with an email no one has here.
    organizationId: text("organization_id"),
    at: integer("at", { mode: "timestamp_ms" }).notNull(),
    // "user:<id>" or "token:<id>"; null for a failed sign-in with an unknown email.
    actor: text("actor"),
    actorLabel: text("actor_label").notNull(),
    action: text("action", { enum: AUDIT_ACTION_NAMES }).notNull(),
    targetType: text("target_type", { enum: AUDIT_TARGETS }),
    targetId: text("target_id"),
    targetLabel: text("target_label"),
    detail: text("detail", { mode: "json" }).$type<Record<string, unknown>>(),
    // The client's address as server.ts settled it (the socket's, or a trusted proxy's word).
    address: text("address"),
  },
  (t) => [
    index("audit_events_org_idx").on(t.organizationId, t.id),
    index("audit_events_org_action_idx").on(t.organizationId, t.action, t.id),
    index("audit_events_target_idx").on(t.organizationId, t.targetType, t.targetId),
    index("audit_events_at_idx").on(t.at),
  ],
);

export type AuditEvent = typeof auditEvents.$inferSelect;
