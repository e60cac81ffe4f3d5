import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import pg from "pg";
import type { BulkWriter } from "./batch";
import { redactUrl } from "./dialect";
import { fanoutRecountStatement, pgTaskTriggerStatements } from "../rules/sql";
import * as schema from "./schema";

// PostgreSQL, for operators who run several nodes: a pool of connections, reads on any of
// them, and each write transaction on one connection of its own (db/transaction.ts). Unlike
// SQLite's one writer, PostgreSQL lets transactions of this and other nodes run side by side:
// what must not run twice is guarded in the statements themselves (`WHERE status = from`, row
// locks, `SKIP LOCKED`), never by an order kept in one process.

const MIGRATIONS = resolve(process.cwd(), "db/migrations/pg");

/** What `pg_advisory_lock` is taken on while a node migrates: nodes that start together migrate once. */
const MIGRATION_LOCK = 0x7461736b; // "task"

/**
 * The pool of one process, `max` from TASKWIRE_PG_POOL (lib/env.ts), 10 by default, and its
 * bulk writer: a worker thread with a pool of its own, half as large, that writes batches
 * (db/batch.ts).
 */
export type PgRunner = { readonly kind: "pg"; readonly pool: pg.Pool; readonly url: string; readonly bulk: BulkWriter };

// bigint (int8) columns hold row numbers, epoch milliseconds and counts, all below 2^53: read
// them as numbers, as SQLite gives them, not as the strings node-postgres gives by default. Set
// on the driver's own table, which drizzle's statements read too: a statement written in SQL
// that returns a row's number (an aggregate, a RETURNING) reads it as a number like a column.
const INT8 = 20;
pg.types.setTypeParser(INT8, (v: string) => Number(v));

/** PostgreSQL could not be reached or set up at start: the message names the URL, without its password. */
export class DatabaseUnreachableError extends Error {
  constructor(url: string, cause: unknown) {
    super(`Cannot use PostgreSQL at ${redactUrl(url)}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "DatabaseUnreachableError";
  }
}

/**
 * A transaction left open this long with nothing sent is ended by PostgreSQL, and its locks
 * with it: a node whose machine died mid-transaction would otherwise hold its rows (devices,
 * tasks) until PostgreSQL noticed the connection gone, hours by TCP's defaults, and every
 * node needing them would wait. No transaction here waits on anything but its own statements.
 */
const IDLE_IN_TRANSACTION_MS = 60_000;

/**
 * TCP keepalive on every connection to PostgreSQL, probing after 10 s of silence: a peer that
 * vanished without a reset (a dead machine, a NAT or balancer that dropped an idle flow) is
 * found by the system, and the connection fails, rather than waiting forever.
 */
export const PG_SESSION = { keepAlive: true, keepAliveInitialDelayMillis: 10_000 } as const;

/** A process's pooled connections unless TASKWIRE_PG_POOL says otherwise. */
export const PG_POOL_SIZE = 10;

/**
 * The process's pool. Its connections are read-only unless a transaction says otherwise: every
 * write goes through `withTransaction` (`BEGIN READ WRITE`, db/transaction.ts), as on SQLite,
 * whose read connection is `query_only`.
 */
export function pgPool(url: string, max = PG_POOL_SIZE): pg.Pool {
  const pool = new pg.Pool(pgPoolOptions(url, max));
  // An idle connection that dies (the server restarted) is dropped by the pool and reported
  // here; without a listener it would take the process down.
  pool.on("error", (e) => console.error(`PostgreSQL connection lost: ${e.message}`));
  return pool;
}

/** The options of a pool (the process's, its bulk writer's): plain data, handed to a worker thread as they are. */
export function pgPoolOptions(url: string, max: number) {
  return { connectionString: url, max, connectionTimeoutMillis: 30_000, ...PG_SESSION, options: `-c default_transaction_read_only=on -c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_MS}` };
}

/** A drizzle handle on a pool or on one connection of it. */
export const pgHandle = (client: pg.Pool | pg.PoolClient) => drizzle({ client, schema });

/**
 * Migrates under a session-level advisory lock (drizzle's migrator takes none: two nodes that
 * start together would both apply a migration), then re-creates the triggers, which come from
 * the rules (rules/sql.ts), in one transaction so that no write ever runs without them.
 */
export async function migratePg(pool: pg.Pool, url: string): Promise<void> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    throw new DatabaseUnreachableError(url, e);
  }
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    await client.query("SET default_transaction_read_only = off");
    try {
      await migrate(pgHandle(client), { migrationsFolder: MIGRATIONS });
      await installTriggers(client);
    } finally {
      await client.query("RESET default_transaction_read_only");
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

/** Where the triggers' fingerprint is kept: the rules they were last made from. */
const TRIGGERS_TABLE = "taskwire_triggers";

/**
 * The triggers made from the rules, in one transaction so that no write ever runs without
 * them — when they differ from what the database holds. Dropping a trigger locks its table
 * against every other statement: a node that starts beside running ones (nodes started
 * together, a rolling upgrade) must not do it when nothing changed, and a transaction of
 * theirs it meets in a deadlock makes it try again, not fail the start.
 */
async function installTriggers(client: pg.PoolClient): Promise<void> {
  const statements = pgTaskTriggerStatements();
  const fingerprint = createHash("sha256").update(statements.join(";\n")).digest("hex");
  const triggers = [...new Set(statements.flatMap((s) => /^CREATE (?:CONSTRAINT )?TRIGGER (\w+)/.exec(s)?.[1] ?? []))];
  const current = async () => {
    const { rows } = await client.query<{ same: boolean }>(
      `SELECT (SELECT fingerprint FROM ${TRIGGERS_TABLE}) = $1
              AND (SELECT count(*) FROM pg_trigger WHERE tgname = ANY($2) AND NOT tgisinternal) = $3 AS same`,
      [fingerprint, triggers, triggers.length],
    );
    return rows[0]?.same === true;
  };
  await client.query(`CREATE TABLE IF NOT EXISTS ${TRIGGERS_TABLE} (fingerprint text NOT NULL)`);
  if (await current()) return;
  for (let attempt = 1; ; attempt++) {
    await client.query("BEGIN");
    try {
      for (const stmt of statements) await client.query(stmt);
      // The new triggers' locks on tasks wait for every writer before them and hold off the
      // next: the fan-outs' counts made again now are exact, whatever older triggers missed.
      await client.query(fanoutRecountStatement());
      await client.query(`DELETE FROM ${TRIGGERS_TABLE}`);
      await client.query(`INSERT INTO ${TRIGGERS_TABLE} (fingerprint) VALUES ($1)`, [fingerprint]);
      await client.query("COMMIT");
      return;
    } catch (e) {
      await client.query("ROLLBACK");
      if (attempt >= 4 || (e as { code?: string }).code !== "40P01") throw e;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 100 * attempt));
    }
  }
}

/**
 * What an error code of PostgreSQL's (or of the driver's connection) says when the database
 * cannot serve the statement now, and nothing of the transaction was committed: "busy" (the
 * transaction lost a conflict, a deadlock or serialization; the server is out of connections),
 * "unreachable" (the connection is gone or refused, the name does not resolve, the server is
 * shutting down or out of room, or it takes no writes: a standby that took over). Otherwise
 * null. The caller answers "unavailable, try again".
 */
export function pgTrouble(code: string): "busy" | "unreachable" | null {
  if (code === "40001" || code === "40P01" || code === "53300") return "busy";
  // 55000: the database does not accept connections now (ALLOW_CONNECTIONS false); 25006: a
  // read-write transaction refused (a server in recovery, a standby).
  if (/^(08|53|57P0)/.test(code) || code === "55000" || code === "25006" || /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NOTFOUND|AI_AGAIN)$/.test(code)) return "unreachable";
  return null;
}
