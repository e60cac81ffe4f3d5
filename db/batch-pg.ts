import type pg from "pg";
import { CHECK_FAILED, type BatchResults, type BatchStep, type BatchValue } from "./batch";

// The batch executor of db/batch-worker.mjs for PostgreSQL: the same steps, the same results,
// on the pooled connection of an open transaction. node-postgres does not hold the event loop
// while the server works, so no worker thread is needed. A statement run once per row is sent
// as INSERTs of up to ROWS_PER_INSERT rows each (insertRows): one round trip per chunk, not per
// row, and each chunk's arrays serialised in one short stretch of the loop.

const ROWS_PER_INSERT = 5_000;

/** `?` placeholders (the steps written by hand, for both dialects) as PostgreSQL's `$n`. */
export function numbered(text: string): string {
  if (/\$1\b/.test(text)) return text; // rendered for PostgreSQL already (db/batch.ts stepOf)
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

const returningId = (text: string) => (/\breturning\b/i.test(text) ? text : `${text} returning "id"`);

export async function runStepsPg(client: pg.PoolClient, steps: BatchStep[]): Promise<BatchResults> {
  const firstIds: (number | null)[] = [];
  const resolve = (v: BatchValue) => (v !== null && typeof v === "object" && typeof (v as { lastIdOf?: unknown }).lastIdOf === "number" ? firstIds[(v as { lastIdOf: number }).lastIdOf] : v);
  const results: BatchResults = [];
  for (const step of steps) {
    if (step.rows) {
      const ids = await insertRows(client, step, resolve);
      results.push(ids);
      firstIds.push(ids && ids.length ? ids[0] : null);
      continue;
    }
    const text = numbered(step.ids ? returningId(step.sql) : step.sql);
    const values = (step.params ?? []).map(resolve);
    if (step.all) {
      const r = await client.query({ text, values, rowMode: "array" });
      results.push(r.rows as unknown[][]);
      firstIds.push(null);
      continue;
    }
    const r = await client.query({ text, values, rowMode: "array" });
    if (step.expectValue !== undefined) {
      if ((r.rows[0] as unknown[] | undefined)?.[0] !== step.expectValue) throw checkFailed(step.failure);
      results.push(null);
      firstIds.push(null);
      continue;
    }
    if (step.expectChanges !== undefined && r.rowCount !== step.expectChanges) throw checkFailed(step.failure);
    const ids = step.ids ? Float64Array.of(Number((r.rows[0] as unknown[])[0])) : null;
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
async function insertRows(client: pg.PoolClient, step: BatchStep, resolve: (v: BatchValue) => unknown): Promise<Float64Array | null> {
  const { names, common, each, count } = step.rows!;
  const match = /^([\s\S]*?)\(([^)]*)\)\s*values\s*\(([\s\S]*)\)\s*$/i.exec(step.sql);
  if (!match) throw new Error("A statement run per row must be an INSERT … (columns) VALUES (…)");
  const [, head, columnList, tupleList] = match;
  const columnNames = columnList.split(",").map((c) => c.trim());
  const tuple = numbered(tupleList).split(",").map((v) => v.trim());
  if (columnNames.length !== tuple.length) throw new Error("A statement run per row names as many columns as it gives values");
  // Each value of the tuple: a column left to its default, a per-row array's element, or a common parameter.
  const perRow = [...new Set(names.filter((n) => n in each))];
  const commonNames = [...new Set(names.filter((n) => !(n in each)))];
  const columns: string[] = [];
  const exprs: string[] = [];
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
    if (ids) for (const [k, row] of (r.rows as unknown[][]).entries()) ids[start + k] = Number(row[0]);
  }
  return ids;
}

/**
 * The lines of `text`, `n` at a time, each call the next ones: a chunk's lines are split as its
 * INSERT is sent. Splitting a 100,000-task fan-out's two columns at once held the loop ~8 ms.
 */
function lineReader(text: string): (n: number) => string[] {
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

function checkFailed(failure: string | undefined) {
  return Object.assign(new Error(`A check of the write failed: ${failure}`), { code: CHECK_FAILED, failure });
}
