import { and, eq, getTableName, sql, type Column, type SQL, type Table } from "drizzle-orm";
import { escapeLike } from "./like";
import { causesOf, dialectOfHandle, type DbOrTx, type Tx } from "./client";
import { PROCESS_DIALECT } from "./dialect";
import type { BatchStep } from "./batch";

// The few things the two dialects spell differently, each in one place, for the domain's
// statements built with drizzle.

/**
 * A JSON object built by the database (one key per pair), for a JSON column: a value of SQL
 * (a count read in the same statement) or text. Keys are the caller's own constants.
 */
export function jsonObject(pairs: Record<string, SQL | string>): SQL {
  const parts = Object.entries(pairs).map(([k, v]) => {
    if (!/^[a-zA-Z]+$/.test(k)) throw new Error(`Not a key: ${k}`);
    // PostgreSQL cannot type a parameter of a function taking "any": text is said so.
    return sql`'${sql.raw(k)}', ${typeof v === "string" ? sql`cast(${v} as text)` : v}`;
  });
  return sql`${sql.raw(PROCESS_DIALECT === "pg" ? "jsonb_build_object" : "json_object")}(${sql.join(parts, sql`, `)})`;
}

/**
 * `column` is one of `values`, the list given as one parameter (PostgreSQL's `= any($1)`, an
 * array; SQLite's `json_each`): the statement's text is the same however long the list.
 * drizzle's `inArray` writes one placeholder per value, and building a statement of 500 of
 * them held the loop ~1.2 ms, at every call, before the database parsed them one by one.
 */
export function anyOf(column: Column, values: readonly (string | number)[]): SQL {
  if (!values.length) return sql`1 = 0`;
  return PROCESS_DIALECT === "pg" ? sql`${column} = any(${sql.param(values)})` : sql`${column} in (select value from json_each(${JSON.stringify(values)}))`;
}

/**
 * The rows of `rows` (each an array, given as one JSON parameter) as the derived table `alias`,
 * each of `columns` the element at its position: text, or an integer.
 */
export function jsonRows(rows: readonly (readonly (string | number)[])[], alias: string, columns: Record<string, "text" | "integer">): SQL {
  const picked = Object.entries(columns).map(([name, type], i) => {
    const element = sql.raw(`e.value ->> ${i}`);
    return sql`${type === "integer" ? sql`cast(${element} as integer)` : element} as ${sql.identifier(name)}`;
  });
  const source = PROCESS_DIALECT === "pg" ? sql`jsonb_array_elements(cast(${JSON.stringify(rows)} as jsonb)) as e(value)` : sql`json_each(${JSON.stringify(rows)}) as e`;
  return sql`(select ${sql.join(picked, sql`, `)} from ${source}) as ${sql.identifier(alias)}`;
}

/**
 * Whether a write was refused because the unique index over `key` (a column, or the columns
 * of a compound key in the index's order) already holds the value it gave (or what the error
 * wraps says so: drizzle wraps driver errors): SQLite's "UNIQUE constraint failed: table.a,
 * table.b", PostgreSQL's 23505 with "Key (a, b)=…". Nothing of the statement was written.
 */
export function isDuplicateOf(e: unknown, key: Column | readonly Column[]): boolean {
  const columns = Array.isArray(key) ? key : [key as Column];
  const table = getTableName(columns[0].table);
  const sqliteSays = `UNIQUE constraint failed: ${columns.map((c) => `${table}.${c.name}`).join(", ")}`;
  const pgSays = `Key (${columns.map((c) => c.name).join(", ")})=`;
  for (const { code, message, table: pgTable, detail } of causesOf(e)) {
    if (code === "SQLITE_CONSTRAINT_UNIQUE" && message === sqliteSays) return true;
    if (code === "23505" && pgTable === table && typeof detail === "string" && detail.startsWith(pgSays)) return true;
  }
  return false;
}

/**
 * `write`, with its refusal by the unique index over `key` turned into `refusal()`. Whether a
 * value is taken is decided by the index as the write lands, not by a read before it: on
 * PostgreSQL two transactions run side by side, and both may read "free" before either writes.
 */
export async function unlessTaken<T>(write: PromiseLike<T>, key: Column | readonly Column[], refusal: () => Error): Promise<T> {
  try {
    return await write;
  } catch (e) {
    throw isDuplicateOf(e, key) ? refusal() : e;
  }
}

/**
 * One kind per write that runs alone. PostgreSQL's advisory lock key is one bigint: the kind
 * above 2^53, the row's number (below 2^53, rules/codes.ts) under it, computed by the database.
 */
const ALONE = { fanoutRetries: 1, instanceSetup: 2, nodeStarts: 3 } as const;
type Alone = keyof typeof ALONE;
const aloneText = (kind: Alone, id: number) => {
  if (!Number.isSafeInteger(id) || id < 0) throw new Error(`Not a row's number: ${id}`);
  return `select pg_advisory_xact_lock(${ALONE[kind]} * ${2 ** 53} + ${id})`;
};

/**
 * From here to its commit, no other transaction that takes the same `kind` and `id` goes on:
 * PostgreSQL's transaction-scoped advisory lock, which holds no row (a fan-out's counters go
 * on changing under it). SQLite needs none: its write transactions run one at a time.
 */
export async function alone(tx: Tx, kind: Alone, id = 0): Promise<void> {
  if (dialectOfHandle(tx) === "pg") await runStatement(tx, sql.raw(aloneText(kind, id)));
}

/** `alone` as a step of a batch (db/batch.ts). */
export function aloneSteps(kind: Alone, id = 0): BatchStep[] {
  return PROCESS_DIALECT === "pg" ? [{ sql: aloneText(kind, id), params: [] }] : [];
}

/** How many rows a write changed: SQLite's `changes`, PostgreSQL's `rowCount`. */
export function changedRows(result: unknown): number {
  const r = result as { changes?: number; rowCount?: number | null };
  return r.changes ?? r.rowCount ?? 0;
}

/** `expr` contains `text`, ignoring case (SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE), `%` and `_` matching themselves. */
export function containsText(expr: SQL | Column, text: string): SQL {
  const pattern = `%${escapeLike(text)}%`;
  return PROCESS_DIALECT === "pg" ? sql`${expr} ilike ${pattern} escape '\\'` : sql`${expr} like ${pattern} escape '\\'`;
}

/**
 * `column = value`, kept off the indexes that lead with `column` where the planner would
 * otherwise prefer them (SQLite's unary `+`). PostgreSQL's planner weighs the choice by its
 * statistics: plain equality.
 */
export function equalsWithoutItsIndex(column: Column, value: string | number): SQL {
  return PROCESS_DIALECT === "pg" ? eq(column, value) : sql`+${column} = ${value}`;
}

/** Runs a statement for its effect: SQLite's `run`, PostgreSQL's `execute`. */
export async function runStatement(h: DbOrTx, q: SQL): Promise<void> {
  if (dialectOfHandle(h) === "pg") await (h as unknown as { execute: (q: SQL) => Promise<unknown> }).execute(q);
  else await h.run(q);
}

/**
 * Locks the rows `where` selects in `table` until the transaction ends, so that a check and
 * the write it guards run one transaction at a time, on every node. PostgreSQL's `FOR NO KEY
 * UPDATE`: the lockers of a row take turns, while rows that only refer to it (a fan-out's to
 * its organization, a member's) go on being written; `FOR UPDATE` would hold those too, and
 * a transaction that locked an invitation, then added a member, waited in a circle with one
 * that locked the organization, then replaced that invitation. SQLite needs nothing: its
 * write transactions already run one at a time.
 */
export async function lockRows(tx: Tx, table: Table, where: SQL | undefined): Promise<void> {
  if (dialectOfHandle(tx) === "pg") await runStatement(tx, sql`select 1 from ${table} where ${where} for no key update`);
}

/**
 * Locks the rows `where` selects in `table`, in the order of `key` (PostgreSQL's `FOR NO KEY
 * UPDATE`), ahead of a statement that updates several of them, which would otherwise lock
 * them in whatever order its plan visits them. Transactions that lock rows of one table in
 * one order never deadlock on them: a fan-out being issued shares its devices in id order
 * until it commits (lib/tasks/issue.ts), and a batch of heartbeats or a dispatch that took
 * one of them first, then waited for another, made PostgreSQL abort one of the two, at
 * times the fan-out, which then wrote its 100,000 tasks again. SQLite needs none of it: its
 * write transactions run one at a time.
 */
export async function lockInKeyOrder(tx: Tx, table: Table, key: Column, where: SQL | undefined): Promise<void> {
  if (dialectOfHandle(tx) !== "pg") return;
  await runStatement(tx, sql`select ${key} from ${table} where ${where} order by ${key} for no key update`);
}

/**
 * `where`, less the rows another transaction holds (PostgreSQL's `FOR NO KEY UPDATE SKIP
 * LOCKED`), as the condition of an UPDATE: those rows are left out, not waited for, and the
 * rows kept are locked by the statement itself, in no particular order, which cannot deadlock,
 * since it never waits. For writes that may skip a row: one whose next write records it. SQLite
 * needs nothing: its write transactions run one at a time.
 */
export function unlockedOnly(tx: Tx, table: Table, key: Column, where: SQL | undefined): SQL | undefined {
  if (dialectOfHandle(tx) !== "pg") return where;
  // `where` outside too, so that the UPDATE finds its rows through `where`'s index rather than
  // joining the whole table to the locked ones.
  return and(where, sql`${key} in (select ${key} from ${table} where ${where} for no key update skip locked)`);
}

/**
 * The rows a step claims for itself (PostgreSQL's `FOR UPDATE SKIP LOCKED`): nodes running the
 * same step side by side take disjoint rows instead of waiting on each other's. SQLite's write
 * transactions already run one at a time.
 */
export function claimed<Q>(tx: Tx, query: Q): Q {
  return dialectOfHandle(tx) === "pg" ? (query as unknown as { for: (strength: "update", o: { skipLocked: true }) => Q }).for("update", { skipLocked: true }) : query;
}
