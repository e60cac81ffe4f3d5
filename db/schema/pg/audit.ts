import { index, jsonb, pgTable, text } from "drizzle-orm/pg-core";
import { AUDIT_ACTION_NAMES, AUDIT_TARGETS } from "../../../rules/audit";
import { epochMs, rowId } from "./columns";

/** The audit trail of people's actions: see db/schema/sqlite/audit.ts. */
export const auditEvents = pgTable(
  "audit_events",
  {
    id: rowId("id").primaryKey().generatedByDefaultAsIdentity(),
    organizationId: text("organization_id"),
    at: epochMs("at").notNull(),
    actor: text("actor"),
    actorLabel: text("actor_label").notNull(),
    action: text("action", { enum: AUDIT_ACTION_NAMES }).notNull(),
    targetType: text("target_type", { enum: AUDIT_TARGETS }),
    targetId: text("target_id"),
    targetLabel: text("target_label"),
    detail: jsonb("detail").$type<Record<string, unknown>>(),
    address: text("address"),
  },
  (t) => [
    index("audit_events_org_idx").on(t.organizationId, t.id),
    index("audit_events_org_action_idx").on(t.organizationId, t.action, t.id),
    index("audit_events_target_idx").on(t.organizationId, t.targetType, t.targetId),
    index("audit_events_at_idx").on(t.at),
  ],
);
