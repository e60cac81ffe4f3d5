import { bigint, index, integer, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { epochMs } from "./columns";
import { organization } from "./auth";

/**
 * Answers to creating requests sent with an `Idempotency-Key` header: the same key and body
 * from the same caller replay the first answer; the same key with another body is refused.
 * Written in the same transaction as what the request created, so a request that was
 * committed always has its answer here, and one that was not leaves no key behind.
 */
export const idempotencyKeys = pgTable(
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
    createdAt: epochMs("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.organizationId, t.principal, t.key] }), index("idempotency_keys_created_idx").on(t.createdAt)],
);

/**
 * The server processes that run on this database, each with the last moment it was known
 * alive: a restart reads how long the server was down from here.
 */
export const nodes = pgTable("nodes", {
  id: text("id").primaryKey(),
  startedAt: epochMs("started_at").notNull(),
  seenAt: epochMs("seen_at").notNull(),
  // Set when the node stopped on purpose: it is no longer alive, and when it was last is kept.
  leftAt: epochMs("left_at"),
});

/**
 * PostgreSQL only: what every node must share and no node may make up alone — the session
 * secret and the agents' signing key, which agents pin (lib/server/secret.ts). The first node
 * to start writes each; the others read it. One SQLite node keeps them in files beside its
 * database instead.
 */
export const serverSecrets = pgTable("server_secrets", {
  name: text("name").primaryKey(),
  value: text("value").notNull(),
  createdAt: epochMs("created_at").notNull(),
});

/**
 * Limits every node counts together (rate-limiter-flexible's drizzle store, lib/server/limits.ts):
 * enrollment per address and per registration token, connects per device. One SQLite node
 * counts them in memory.
 */
export const rateLimits = pgTable("rate_limits", {
  key: text("key").primaryKey(),
  points: integer("points").notNull(),
  expire: epochMs("expire"),
});

/** better-auth's sign-in and request limits, counted together by every node (its database storage). */
export const rateLimit = pgTable("rate_limit", {
  id: text("id").primaryKey(),
  key: text("key").notNull().unique(),
  count: integer("count").notNull(),
  lastRequest: bigint("last_request", { mode: "number" }).notNull(),
});

/**
 * The retention purge's permit (lib/tasks/purge.ts): a row written and removed inside each of
 * its transactions, never committed. The triggers let a finished task or an audit row be
 * deleted only while one is there, that is, only by the purge (rules/sql.ts).
 */
export const purgePermits = pgTable("purge_permits", {
  holder: text("holder").primaryKey(),
});
