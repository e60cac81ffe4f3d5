// A write transaction given as data: statements and rows, run one after another on one
// connection. The same executor runs in two places (db/batch.ts):
// - on the writer connection, inside a transaction already open there (a verb that joins its
//   caller's transaction);
// - in a worker thread with a connection of its own, for a large write (a fan-out): its
//   statements and its COMMIT — which for 100,000 tasks writes and checksums tens of
//   thousands of log frames in one call — run off the event loop.
// Plain JavaScript, so that a worker thread loads it without a compiler.
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { createRequire } from "node:module";

/** A check of the batch that did not hold: the whole transaction rolls back. */
export const CHECK_FAILED = "TASKWIRE_CHECK_FAILED";

/**
 * Runs `steps` on `sqlite` (a better-sqlite3 connection, inside a transaction the caller
 * opened) and returns, for each step that asked for them, the rowids it inserted or the rows
 * it read or returned.
 */
export function runSteps(sqlite, steps, prepared = new Map()) {
  const prepare = (text) => {
    let stmt = prepared.get(text);
    if (!stmt) prepared.set(text, (stmt = sqlite.prepare(text)));
    return stmt;
  };
  const firstIds = [];
  const resolve = (v) => (v !== null && typeof v === "object" && typeof v.lastIdOf === "number" ? firstIds[v.lastIdOf] : v);
  const results = [];
  for (const step of steps) {
    const stmt = prepare(step.sql);
    if (step.rows) {
      const { names, common, each, count } = step.rows;
      // Per parameter: its column of values, or else its one value.
      const columns = names.map((n) => (n in each ? (count ? each[n].split("\n") : []) : null));
      const values = names.map((n, j) => (columns[j] ? undefined : resolve(common[n])));
      const ids = step.ids ? new Float64Array(count) : null;
      for (let i = 0; i < count; i++) {
        for (let j = 0; j < names.length; j++) if (columns[j]) values[j] = columns[j][i];
        const info = stmt.run(values);
        if (ids) ids[i] = Number(info.lastInsertRowid);
      }
      results.push(ids);
      firstIds.push(ids && count ? ids[0] : null);
      continue;
    }
    const params = (step.params ?? []).map(resolve);
    if (step.all) {
      results.push(stmt.raw(true).all(params));
      firstIds.push(null);
      continue;
    }
    if (step.expectValue !== undefined) {
      const value = stmt.pluck().get(params);
      if (value !== step.expectValue) throw checkFailed(step.failure);
      results.push(null);
      firstIds.push(null);
      continue;
    }
    const info = stmt.run(params);
    if (step.expectChanges !== undefined && info.changes !== step.expectChanges) throw checkFailed(step.failure);
    const ids = step.ids ? Float64Array.of(Number(info.lastInsertRowid)) : null;
    results.push(ids);
    firstIds.push(ids ? ids[0] : null);
  }
  return results;
}

function checkFailed(failure) {
  return Object.assign(new Error(`A check of the write failed: ${failure}`), { code: CHECK_FAILED, failure });
}

// The worker: one connection to the file. A message is a group of batches, written as one
// transaction (a group commit: the pages they share go to the log once), each batch under a
// savepoint of its own, so that a batch that fails rolls back alone.
if (!isMainThread && workerData?.taskwireBatch) {
  const Database = createRequire(import.meta.url)(workerData.driver);
  const sqlite = new Database(workerData.file, { fileMustExist: true });
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma(`synchronous = ${workerData.synchronous}`);
  // Only this thread waits for another process's lock, so SQLite's own busy wait is fine here.
  sqlite.pragma(`busy_timeout = ${workerData.busyTimeoutMs}`);
  // Checkpoints are the background checkpointer's (lib/server/checkpointer.ts) or, without
  // one, the server's writer connection's: never inside this connection's commits.
  sqlite.pragma("wal_autocheckpoint = 0");
  sqlite.pragma("journal_size_limit = -1");
  const prepared = new Map();
  const run = (text) => {
    let stmt = prepared.get(text);
    if (!stmt) prepared.set(text, (stmt = sqlite.prepare(text)));
    stmt.run();
  };
  const failure = (e) => ({ message: String(e?.message ?? e), code: e?.code, failure: e?.failure });
  parentPort.on("message", (m) => {
    if (m === "close") {
      sqlite.close();
      parentPort.close();
      return;
    }
    const outcomes = [];
    try {
      run("BEGIN IMMEDIATE");
      try {
        for (const steps of m.batches) {
          run("SAVEPOINT batch");
          try {
            outcomes.push({ results: runSteps(sqlite, steps, prepared) });
            run("RELEASE batch");
          } catch (e) {
            run("ROLLBACK TO batch");
            run("RELEASE batch");
            outcomes.push({ error: failure(e) });
          }
        }
        run("COMMIT");
      } catch (e) {
        if (sqlite.inTransaction) run("ROLLBACK");
        throw e;
      }
    } catch (e) {
      // Nothing of the group was written.
      parentPort.postMessage({ id: m.id, error: failure(e) });
      return;
    }
    const buffers = outcomes.flatMap((o) => (o.results ?? []).filter((r) => r instanceof Float64Array).map((r) => r.buffer));
    parentPort.postMessage({ id: m.id, outcomes }, buffers);
  });
}
