import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { organization } from "./auth";

/**
 * Answers to creating requests sent with an `Idempotency-Key` header: the same key and body
 * from the same caller replay the first answer; the same key with another body is refused.
 * Written in the same transaction as what the request created, so a request that was
 * committed always has its answer here, and one that was not leaves no key behind.
 */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    organizationId: text("organization_id")
      .notNull()
      .references(() => organization.id, { onDelete: "cascade" }),
    // Who sent it: "user:<id>" for a session, "token:<id>" for an API token.
    principal: text("principal").notNull(),
    key: text("key").notNull(),
    // SHA-256 of the method, the path and the body as received.
    requestHash: text("request_hash").notNull(),
    status: integer("status").notNull(),
    response: text("response").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.organizationId, t.principal, t.key] }), index("idempotency_keys_created_idx").on(t.createdAt)],
);

/**
 * The server processes that run on this database, each with the last moment it was known
 * alive: a restart reads how long the server was down from here.
 */
export const nodes = sqliteTable("nodes", {
  id: text("id").primaryKey(),
  startedAt: integer("started_at", { mode: "timestamp_ms" }).notNull(),
  seenAt: integer("seen_at", { mode: "timestamp_ms" }).notNull(),
  // Set when the node stopped on purpose: it is no longer alive, and when it was last is kept.
  leftAt: integer("left_at", { mode: "timestamp_ms" }),
});

/**
 * The retention purge's permit (lib/tasks/purge.ts): a row written and removed inside each of
 * its transactions, never committed. The triggers let a finished task or an audit row be
 * deleted only while one is there, that is, only by the purge (rules/sql.ts).
 */
export const purgePermits = sqliteTable("purge_permits", {
  holder: text("holder").primaryKey(),
});
