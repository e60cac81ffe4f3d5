import type pg from "pg";
import { CHECK_FAILED, type BatchResults, type BatchStep, type BatchValue } from "./batch";

// The batch executor of db/batch-worker.mjs for PostgreSQL: the same steps, the same results,
// on the pooled connection of an open transaction. node-postgres does not hold the event loop
// while the server works, so no worker thread is needed. A statement run once per row is sent
// as multi-row INSERTs of ROWS_PER_INSERT rows: one round trip per chunk, not per row.

const ROWS_PER_INSERT = 1_000;

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

/** A statement `INSERT … VALUES (…)` run once per row, as INSERTs of many rows each. */
async function insertRows(client: pg.PoolClient, step: BatchStep, resolve: (v: BatchValue) => unknown): Promise<Float64Array | null> {
  const { names, common, each, count } = step.rows!;
  const match = /^([\s\S]*\bvalues\s*)\(([\s\S]*)\)\s*$/i.exec(step.sql);
  if (!match) throw new Error("A statement run per row must be an INSERT … VALUES (…)");
  const head = match[1];
  // The row's placeholders as $1…$k, shifted by each row's offset in the statement.
  const tuple = numbered(match[2]);
  const columns = names.map((n) => (n in each ? (count ? each[n].split("\n") : []) : null));
  const fixed = names.map((n, j) => (columns[j] ? undefined : resolve(common[n])));
  const ids = step.ids ? new Float64Array(count) : null;
  for (let start = 0; start < count; start += ROWS_PER_INSERT) {
    const end = Math.min(count, start + ROWS_PER_INSERT);
    const values: unknown[] = [];
    const tuples: string[] = [];
    for (let i = start; i < end; i++) {
      const base = values.length;
      for (let j = 0; j < names.length; j++) values.push(columns[j] ? columns[j]![i] : fixed[j]);
      tuples.push(`(${tuple.replace(/\$(\d+)/g, (_, k: string) => `$${base + Number(k)}`)})`);
    }
    const text = `${head}${tuples.join(", ")}`;
    const r = await client.query({ text: step.ids ? returningId(text) : text, values, rowMode: "array" });
    if (ids) for (const [k, row] of (r.rows as unknown[][]).entries()) ids[start + k] = Number(row[0]);
  }
  return ids;
}

function checkFailed(failure: string | undefined) {
  return Object.assign(new Error(`A check of the write failed: ${failure}`), { code: CHECK_FAILED, failure });
}
