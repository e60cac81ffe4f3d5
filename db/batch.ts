import { createRequire } from "node:module";
import { resolve } from "node:path";
import { Worker } from "node:worker_threads";
import { is, Placeholder, SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import { PROCESS_DIALECT } from "./dialect";
import { CHECK_FAILED, type BatchStep, type BatchValue } from "./batch-worker.mjs";

export { CHECK_FAILED, runSteps, type BatchStep, type BatchValue } from "./batch-worker.mjs";

/** For each step of a batch, the rowids it inserted or the rows it read (when it asked for them). */
export type BatchResults = (Float64Array | unknown[][] | null)[];

/**
 * Whether `e` is a batch's check that did not hold (its `failure` names which): nothing of the
 * batch was written. By its code, not a class: app code is bundled apart from the server.
 */
export const isBatchCheck = (e: unknown, failure: string): boolean =>
  (e as { code?: unknown } | null)?.code === CHECK_FAILED && (e as { failure?: unknown }).failure === failure;

/** What became of one batch of a group: its results, or why it was rolled back (alone). */
export type BatchOutcome = { results: BatchResults } | { error: Error };

/**
 * The bulk writer: a worker thread that writes batches off the event loop and answers with
 * each batch's results or error. Started on the first batch.
 * - SQLite (`bulkWriter`): a connection of its own to the file, which writes a group of
 *   batches as one transaction (`BEGIN IMMEDIATE` … `COMMIT`), each batch under a savepoint.
 *   The runner hands it the batches queued meanwhile in one turn of its queue
 *   (db/transaction.ts), so it never writes beside the writer connection. It rejects only
 *   when the group as a whole failed (its commit): then nothing of it was written.
 * - PostgreSQL (`pgBulkWriter`): a pool of its own, each batch a transaction of its own on
 *   one of its connections, side by side (db/batch-pg-worker.mjs).
 */
export type BulkWriter = {
  run: (batches: BatchStep[][]) => Promise<BatchOutcome[]>;
  /** Closes the worker's connections; resolves once the worker has exited, its connections closed. */
  close: () => Promise<void>;
};

/** A driver's error as it crosses from the worker: the fields the server's checks read (db/client.ts, db/portable.ts). */
type WireError = { message: string; code?: string; failure?: string; table?: string; detail?: string; constraint?: string };
const errorOf = (wire: WireError) =>
  Object.assign(
    new Error(wire.message),
    Object.fromEntries(Object.entries(wire).filter(([k, v]) => k !== "message" && v !== undefined)),
  );

// Resolved from the working directory, as the migrations are: app code is bundled apart from
// the server, and the worker loads its file as it is on disk.
const SQLITE_WORKER = resolve(process.cwd(), "db/batch-worker.mjs");
const PG_WORKER = resolve(process.cwd(), "db/batch-pg-worker.mjs");

export function bulkWriter(file: string, opts: { synchronous: "NORMAL" | "FULL"; busyTimeoutMs: number }): BulkWriter {
  return workerWriter(SQLITE_WORKER, { taskwireBatch: true, file, driver: createRequire(import.meta.url).resolve("better-sqlite3"), ...opts });
}

/** `pool`: the options of the worker's pool (db/pg.ts pgPoolOptions). */
export function pgBulkWriter(pool: Record<string, unknown>): BulkWriter {
  return workerWriter(PG_WORKER, { taskwirePgBatch: true, pool, driver: createRequire(import.meta.url).resolve("pg") });
}

function workerWriter(file: string, workerData: Record<string, unknown>): BulkWriter {
  let worker: Worker | undefined;
  let closed = false;
  let next = 0;
  const waiting = new Map<number, { resolve: (r: BatchOutcome[]) => void; reject: (e: Error) => void }>();
  const failAll = (from: Worker, e: Error) => {
    if (worker !== from) return;
    for (const job of waiting.values()) job.reject(e);
    waiting.clear();
    worker = undefined;
  };
  const start = (): Worker => {
    const w = new Worker(file, { workerData });
    w.on("message", (m: { id: number; outcomes?: ({ results: BatchResults } | { error: WireError })[]; error?: WireError }) => {
      const job = waiting.get(m.id);
      if (!job) return;
      waiting.delete(m.id);
      if (waiting.size === 0) w.unref();
      if (m.error) return job.reject(errorOf(m.error));
      job.resolve(m.outcomes!.map((o) => ("error" in o ? { error: errorOf(o.error) } : o)));
    });
    w.on("error", (e) => failAll(w, e));
    w.on("exit", (code) => failAll(w, new Error(`The bulk writer stopped (exit ${code})`)));
    return w;
  };
  return {
    run: (batches) =>
      new Promise((resolve, reject) => {
        // Closed with the database: a batch after it would open connections no one closes.
        if (closed) return reject(new Error("The database is closed"));
        worker ??= start();
        const id = next++;
        try {
          worker.postMessage({ id, batches });
        } catch (e) {
          // A value that cannot be cloned: nothing was sent, and an idle worker does not hold the process up.
          if (waiting.size === 0) worker.unref();
          return reject(e as Error);
        }
        waiting.set(id, { resolve, reject });
        // A batch in flight keeps the process up; an idle worker does not.
        worker.ref();
      }),
    close: () => {
      closed = true;
      const closing = worker;
      worker = undefined;
      if (!closing) return Promise.resolve();
      // The worker answers what it was given before it exits; anything it could not answer
      // (it failed) is refused then, never left waiting.
      const exited = new Promise<void>((resolve) =>
        closing.once("exit", () => {
          for (const job of waiting.values()) job.reject(new Error("The database is closed"));
          waiting.clear();
          resolve();
        }),
      );
      // An idle worker is unref'd: awaited with nothing else to keep the process up, the exit
      // would never be heard (the process would end mid-await, with code 0).
      closing.ref();
      closing.postMessage("close");
      return exited;
    },
  };
}

type Query = SQL | { toSQL(): { sql: string; params: unknown[] } };

// Statements built from drizzle's SQL are rendered for the process's database.
const dialect = PROCESS_DIALECT === "pg" ? new PgDialect() : new SQLiteSyncDialect();
const toQuery = (q: Query) => (is(q, SQL) ? dialect.sqlToQuery(q) : q.toSQL());

/** A statement built with drizzle as a step of a batch; its placeholders take their values from `named`. */
export function stepOf(q: Query, named: Record<string, BatchValue> = {}): BatchStep {
  const { sql, params } = toQuery(q);
  return { sql, params: params.map((p) => (is(p, Placeholder) ? named[p.name] : p)) };
}

/** Lines joined in one piece (see joinLines). */
const LINES_PER_PIECE = 5_000;

/**
 * `items[from, to)` as a per-row column of a step run once per row (its lines), joined a piece
 * at a time with `pace` between the pieces: one join of a 100,000-task fan-out's device ids
 * held the event loop 45 ms on a busy server.
 */
export async function joinLines(items: readonly string[], from: number, to: number, pace: () => Promise<void>): Promise<string> {
  const pieces: string[] = [];
  for (let i = from; i < to; i += LINES_PER_PIECE) {
    if (i > from) await pace();
    pieces.push(items.slice(i, Math.min(to, i + LINES_PER_PIECE)).join("\n"));
  }
  return pieces.join("\n");
}

/**
 * A statement built with drizzle, every value a placeholder, as a step run once per row:
 * each placeholder takes its value from the row's column in `each` or else from `common`.
 */
export function rowsOf(q: Query, rows: Omit<NonNullable<BatchStep["rows"]>, "names">): BatchStep {
  const { sql, params } = toQuery(q);
  const names = params.map((p) => {
    if (!is(p, Placeholder)) throw new Error("Every value of a statement run per row is a placeholder");
    return p.name;
  });
  return { sql, rows: { names, ...rows } };
}
