import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { ROLES } from "../../../rules/roles";
import { organization, user } from "./auth";

/**
 * API tokens: random secrets shown once, stored as SHA-256 hashes, scoped to one
 * organization. Kept as the project's own small table rather than better-auth's api-key
 * plugin, which needs npm overrides of better-auth's own dependencies to install beside it
 * and adds a per-key request quota we would only switch off.
 */
export const apiTokens = sqliteTable(
  "api_tokens",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id")
      .notNull()
      .references(() => organization.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => user.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    prefix: text("prefix").notNull(),
    tokenHash: text("token_hash").notNull(),
    role: text("role", { enum: ROLES }).notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    lastUsedAt: integer("last_used_at", { mode: "timestamp_ms" }),
    revokedAt: integer("revoked_at", { mode: "timestamp_ms" }),
  },
  (t) => [uniqueIndex("api_tokens_hash_uidx").on(t.tokenHash), index("api_tokens_org_idx").on(t.organizationId)],
);

export type ApiToken = typeof apiTokens.$inferSelect;
