import type pg from "pg";
import { isTx, runnerOf, type DbOrTx } from "./client";

// PostgreSQL plans each read of tasks by their status from the table's statistics. A fan-out
// makes thousands of tasks PENDING at once, and until the statistics are taken again they
// say almost none are: every read that names the status alone (the dispatcher's read of due
// tasks by id, each connect's read of its device's waiting tasks) then takes the partial
// index of PENDING tasks as the cheap way in and reads all of them, for each call. After a
// restart under 10,000 waiting tasks that was 23 s of the database's time (docs/performance.md,
// "Plans made from statistics older than the tasks"). Autovacuum takes them after 10,000
// changed rows (migration 0008), but only at its next round, up to a minute later. So the
// node that issued them takes them at once. SQLite keeps no such statistics.

/** Tasks issued on this node since its last look that make it take the statistics: autovacuum's own threshold (migration 0008). */
export const ANALYZE_AFTER_ISSUED = 10_000;
/** What `pg_try_advisory_xact_lock` is taken on: one node takes the statistics at a time; the others leave it be. */
const ANALYZE_LOCK = 0x616e6c7a; // "anlz"
/** Autovacuum holds the table's lock while it works: a node waits this long for it, then leaves it to autovacuum. */
const LOCK_WAIT = "5s";

type Issued = WeakMap<pg.Pool, { issued: number; running: boolean }>;
// One count per process: the JSON API (server.ts's bundle) and the console's actions (Next's)
// both issue, and share it through globalThis like the database handle (db/client.ts).
const KEY = Symbol.for("taskwire.tasksIssued");
const holder = globalThis as { [KEY]?: Issued };
const issuedSince: Issued = (holder[KEY] ??= new WeakMap());

/**
 * Counts `n` tasks just committed on `db`; on PostgreSQL, once ANALYZE_AFTER_ISSUED have been
 * issued here, takes the tasks' statistics in the background. Never waited for, never thrown.
 * Tasks issued inside a caller's transaction (a re-run: one task) are not counted.
 */
export function tasksIssued(db: DbOrTx, n: number): void {
  if (isTx(db)) return;
  const runner = runnerOf(db);
  if (runner.kind !== "pg") return;
  const state = issuedSince.get(runner.pool) ?? issuedSince.set(runner.pool, { issued: 0, running: false }).get(runner.pool)!;
  state.issued += n;
  if (state.running || state.issued < ANALYZE_AFTER_ISSUED) return;
  state.issued = 0;
  state.running = true;
  analyzeTasks(runner.pool)
    .catch((e: Error) => console.error(`Taking the tasks' statistics failed; autovacuum takes them within a minute: ${e.message}`))
    .finally(() => (state.running = false));
}

/**
 * `ANALYZE tasks` in a transaction of its own, unless another node is at it. It writes no
 * row, only the statistics, so it runs on the pool's read-only connection, outside the write
 * runner and its transaction-time figures.
 */
async function analyzeTasks(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(`SET LOCAL lock_timeout = '${LOCK_WAIT}'`);
    const { rows } = await client.query<{ mine: boolean }>("SELECT pg_try_advisory_xact_lock($1) AS mine", [ANALYZE_LOCK]);
    if (rows[0].mine) await client.query("ANALYZE tasks");
    await client.query("COMMIT");
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
