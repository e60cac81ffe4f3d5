// The batch executor of db/batch-worker.mjs for PostgreSQL: the same steps, the same results.
// It runs in two places (db/batch.ts, db/transaction.ts):
// - on the pooled connection of a transaction already open on the event loop's thread (a verb
//   that joins its caller's transaction);
// - in a worker thread with a pool of its own, for a batch written alone (agents' results, a
//   fan-out): each statement's answer then waits for this thread's turn, not for the server's
//   event loop, whose turns in a result storm are tens of milliseconds; the server waits once
//   per batch (docs/performance.md, "A batch's round trips off the event loop").
// A statement run once per row is sent as INSERTs of up to ROWS_PER_INSERT rows each
// (insertRows): one round trip per chunk, not per row. Plain JavaScript, so that a worker
// thread loads it without a compiler.
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { createRequire } from "node:module";
import { CHECK_FAILED } from "./batch-worker.mjs";

const ROWS_PER_INSERT = 5_000;

/**
 * A transaction PostgreSQL chose to abort (a deadlock, a serialization failure) wrote nothing:
 * it runs again, as PostgreSQL's documentation advises, a few times at most, after a short
 * random pause. `run` is one attempt; `told` hears of each new one.
 */
export async function retryingAborted(run, told) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (e) {
      const code = e?.code ?? e?.cause?.code;
      if (attempt >= PG_ATTEMPTS || (code !== "40P01" && code !== "40001")) throw e;
      // Said, not silent: an operator who sees many of these has a lock order to look at.
      told(`PostgreSQL aborted a transaction (${code === "40P01" ? "deadlock" : "serialization failure"}); running it again (attempt ${attempt + 1} of ${PG_ATTEMPTS})`);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
  }
}

const PG_ATTEMPTS = 4;

/**
 * `begin` … COMMIT on a connection of `pool`, held for the whole transaction, `run` between; a
 * failure rolls back. A connection whose ROLLBACK failed is dropped from the pool rather than
 * handed to the next transaction.
 */
export async function inPgTransaction(pool, begin, run) {
  const client = await pool.connect();
  let broken;
  // The pool hears a connection's failure only while the connection is idle: one that fails
  // between two statements of the transaction is heard here (unheard, it would end the
  // thread); its next statement fails, "not queryable", and it is dropped.
  const lost = (e) => (broken ??= e);
  client.on("error", lost);
  try {
    await client.query(begin);
    try {
      const result = await run(client);
      await client.query("COMMIT");
      return result;
    } catch (e) {
      await client.query("ROLLBACK").catch((err) => (broken = err));
      throw e;
    }
  } finally {
    client.removeListener("error", lost);
    client.release(broken);
  }
}

/** `?` placeholders (the steps written by hand, for both dialects) as PostgreSQL's `$n`. */
export function numbered(text) {
  if (/\$1\b/.test(text)) return text; // rendered for PostgreSQL already (db/batch.ts stepOf)
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

const returningId = (text) => (/\breturning\b/i.test(text) ? text : `${text} returning "id"`);

/** Runs `steps` on `client` (a pooled connection, inside a transaction the caller opened). */
export async function runStepsPg(client, steps) {
  const firstIds = [];
  const resolve = (v) => (v !== null && typeof v === "object" && typeof v.lastIdOf === "number" ? firstIds[v.lastIdOf] : v);
  const results = [];
  for (const step of steps) {
    if (step.rows) {
      const ids = await insertRows(client, step, resolve);
      results.push(ids);
      firstIds.push(ids && ids.length ? ids[0] : null);
      continue;
    }
    const text = numbered(step.ids ? returningId(step.sql) : step.sql);
    const values = (step.params ?? []).map(resolve);
    const r = await client.query({ text, values, rowMode: "array" });
    if (step.all) {
      results.push(r.rows);
      firstIds.push(null);
      continue;
    }
    if (step.expectValue !== undefined) {
      if (r.rows[0]?.[0] !== step.expectValue) throw checkFailed(step.failure);
      results.push(null);
      firstIds.push(null);
      continue;
    }
    if (step.expectChanges !== undefined && r.rowCount !== step.expectChanges) throw checkFailed(step.failure);
    const ids = step.ids ? Float64Array.of(Number(r.rows[0][0])) : null;
    results.push(ids);
    firstIds.push(ids ? ids[0] : null);
  }
  return results;
}

/**
 * A statement `INSERT … VALUES (…)` run once per row, as one `INSERT … SELECT … FROM unnest(…)`
 * per ROWS_PER_INSERT rows: the values that differ per row go as one text array per column,
 * those common to every row once each. PostgreSQL parses and plans a statement of a few dozen
 * characters instead of one with a placeholder per value (13,000 for a 1,000-task fan-out),
 * and node-postgres serialises two arrays instead of 13,000 values. A 10,000-task fan-out's POST
 * went from 2.09× to 1.47× the benchmark's floor (docs/performance.md). Each common
 * placeholder takes its column's type from the INSERT, as in VALUES; the per-row values are
 * text (they come as lines of text).
 */
async function insertRows(client, step, resolve) {
  const { names, common, each, count } = step.rows;
  const match = /^([\s\S]*?)\(([^)]*)\)\s*values\s*\(([\s\S]*)\)\s*$/i.exec(step.sql);
  if (!match) throw new Error("A statement run per row must be an INSERT … (columns) VALUES (…)");
  const [, head, columnList, tupleList] = match;
  const columnNames = columnList.split(",").map((c) => c.trim());
  const tuple = numbered(tupleList).split(",").map((v) => v.trim());
  if (columnNames.length !== tuple.length) throw new Error("A statement run per row names as many columns as it gives values");
  // Each value of the tuple: a column left to its default, a per-row array's element, or a common parameter.
  const perRow = [...new Set(names.filter((n) => n in each))];
  const commonNames = [...new Set(names.filter((n) => !(n in each)))];
  const columns = [];
  const exprs = [];
  for (const [j, v] of tuple.entries()) {
    if (/^default$/i.test(v)) continue;
    const k = /^\$(\d+)$/.exec(v);
    if (!k) throw new Error(`A statement run per row gives each column a placeholder or default, not ${v}`);
    const name = names[Number(k[1]) - 1];
    columns.push(columnNames[j]);
    exprs.push(name in each ? `u.c${perRow.indexOf(name)}` : `$${perRow.length + commonNames.indexOf(name) + 1}`);
  }
  const arrays = perRow.map((_, i) => `$${i + 1}::text[]`).join(", ");
  const aliases = perRow.map((_, i) => `c${i}`).join(", ");
  const select = `${head}(${columns.join(", ")}) select ${exprs.join(", ")} from unnest(${arrays}) with ordinality as u(${aliases}, ord) order by u.ord`;
  const text = step.ids ? returningId(select) : select;
  const readers = perRow.map((n) => lineReader(each[n]));
  const fixed = commonNames.map((n) => resolve(common[n]));
  const ids = step.ids ? new Float64Array(count) : null;
  for (let start = 0; start < count; start += ROWS_PER_INSERT) {
    const end = Math.min(count, start + ROWS_PER_INSERT);
    const values = [...readers.map((read) => read(end - start)), ...fixed];
    const r = await client.query({ text, values, rowMode: "array" });
    if (ids) for (const [k, row] of r.rows.entries()) ids[start + k] = Number(row[0]);
  }
  return ids;
}

/**
 * The lines of `text`, `n` at a time, each call the next ones: a chunk's lines are split as its
 * INSERT is sent. Splitting a 100,000-task fan-out's two columns at once held the loop ~8 ms.
 */
function lineReader(text) {
  let pos = 0;
  return (n) => {
    let end = pos - 1;
    for (let i = 0; i < n && end < text.length; i++) {
      const nl = text.indexOf("\n", end + 1);
      end = nl === -1 ? text.length : nl;
    }
    const lines = text.slice(pos, end).split("\n");
    pos = end + 1;
    return lines;
  };
}

function checkFailed(failure) {
  return Object.assign(new Error(`A check of the write failed: ${failure}`), { code: CHECK_FAILED, failure });
}

// The worker: a pool of its own (the options of the server's, db/pg.ts). A message is a group
// of batches; each is a transaction of its own on a connection of the pool, side by side, as
// on the event loop's thread, and answered with its results or its error.
if (!isMainThread && workerData?.taskwirePgBatch) {
  const pg = createRequire(import.meta.url)(workerData.driver);
  // As db/pg.ts reads them: row numbers, epoch milliseconds and counts as numbers.
  pg.types.setTypeParser(20, (v) => Number(v));
  const pool = new pg.Pool(workerData.pool);
  // An idle connection that dies (the server restarted) is dropped by the pool and reported
  // here, as the server's own pool reports it; a batch whose connection dies fails with its
  // error, which goes back with the batch.
  pool.on("error", (e) => console.error(`PostgreSQL connection lost (bulk writer): ${e.message}`));
  // The fields of node-postgres's error that the server's checks read (db/client.ts, db/portable.ts).
  const failure = (e) => ({ message: String(e?.message ?? e), code: e?.code, failure: e?.failure, table: e?.table, detail: e?.detail, constraint: e?.constraint });
  const write = (steps) =>
    retryingAborted(() => inPgTransaction(pool, "BEGIN READ WRITE", (client) => runStepsPg(client, steps)), console.warn).then(
      (results) => ({ results }),
      (e) => ({ error: failure(e) }),
    );
  // The batches being written: a close lets them end (each answered) before the pool does.
  const writing = new Set();
  parentPort.on("message", async (m) => {
    if (m === "close") {
      await Promise.allSettled(writing);
      await pool.end().catch(() => {});
      parentPort.close();
      return;
    }
    const answered = Promise.all(m.batches.map(write)).then((outcomes) => {
      const buffers = outcomes.flatMap((o) => (o.results ?? []).filter((r) => r instanceof Float64Array).map((r) => r.buffer));
      parentPort.postMessage({ id: m.id, outcomes }, buffers);
    }).catch((e) => parentPort.postMessage({ id: m.id, error: failure(e) }));
    writing.add(answered);
    await answered;
    writing.delete(answered);
  });
}
