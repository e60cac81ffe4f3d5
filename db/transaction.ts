import type pg from "pg";
import { runSteps, type BatchResults, type BatchStep } from "./batch";
import { inPgTransaction, retryingAborted, runStepsPg } from "./batch-pg-worker.mjs";
import { asTx, BUSY_TIMEOUT_MS, dialectOfHandle, isDatabaseBusy, isTx, runnerOf, type Db, type DbOrTx, type Tx, type WriteRunner } from "./client";
import { pgHandle, type PgRunner } from "./pg";

// The one way to write. SQLite allows one writer at a time, and better-sqlite3 runs every
// statement on the event loop's thread; a transaction whose callback awaits (to let the loop
// breathe between chunks of a large fan-out, or because the driver is asynchronous) must
// still be atomic and isolated. So:
// - every write transaction runs on the one writer connection, one after another: a queue
//   in this process and `BEGIN IMMEDIATE` against other processes. No other request's
//   statement can run inside it — nothing else is allowed to use the writer connection;
// - reads outside a transaction run on their own connection (db.ts), which in WAL sees the
//   last commit only, never a transaction's partial writes;
// - a failure anywhere in the callback rolls all of it back.
// A verb called inside another's transaction (its context carries the Tx) joins it under a
// savepoint: what the inner one wrote rolls back alone if it throws.
//
// On PostgreSQL (db/pg.ts) each transaction holds a pooled connection of its own from BEGIN to
// COMMIT, and transactions run side by side, in this process as on other nodes: the database
// isolates them, and its row locks order the writes that meet.

export type Ctx = { db: DbOrTx };

/**
 * How a transaction's commit reaches the disk. `flushed`: the commit returns once it is as
 * durable as the database is set to keep it (PostgreSQL: its log flushed to disk; SQLite under
 * synchronous=NORMAL: written to its log, which a crash of the application does not lose). `lazy`:
 * on PostgreSQL the commit returns before its log is flushed (`synchronous_commit` off for
 * this transaction alone), sparing the wait on the disk; a crash of the database server may
 * lose the last such transactions (a fraction of a second's), whole, never a part of one. For
 * writes whose loss is harmless because the next one repeats them: a heartbeat's time. SQLite
 * commits the same either way.
 */
export type Commit = "flushed" | "lazy";

/**
 * Runs `fn` in a write transaction: the context's, under a savepoint, or a new one queued
 * behind the others. Every statement of `fn` must run on the `tx` it is given. `commit` is
 * for a new transaction; a savepoint commits with the transaction around it.
 */
export async function withTransaction<T>(ctx: Ctx, fn: (tx: Tx) => Promise<T> | T, opts: { commit?: Commit } = {}): Promise<T> {
  if (isTx(ctx.db)) return savepoint(ctx.db, fn);
  const runner = runnerOf(ctx.db);
  if (runner.kind === "pg") return timed("transaction", () => pgTransaction(runner, fn, opts.commit));
  return inTurn(runner, () => timed("transaction", () => transaction(runner.tx, fn)));
}

type Observer = (kind: "transaction" | "batch", seconds: number) => void;
const OBSERVER = Symbol.for("taskwire.transactions");

/** Hands every write transaction's duration to `observe` (the server's metrics, lib/server/metrics.ts). */
export function observeTransactions(observe: Observer): void {
  (globalThis as { [OBSERVER]?: Observer })[OBSERVER] = observe;
}

async function timed<T>(kind: "transaction" | "batch", run: () => Promise<T>): Promise<T> {
  const observe = (globalThis as { [OBSERVER]?: Observer })[OBSERVER];
  if (!observe) return run();
  const t0 = performance.now();
  try {
    return await run();
  } finally {
    observe(kind, (performance.now() - t0) / 1000);
  }
}

/**
 * Writes a batch given as data (db/batch.ts) atomically: inside the context's transaction,
 * under a savepoint, or else on the bulk writer, a worker thread whose statements and commit
 * do not hold the event loop however many rows the batch has. On SQLite, batches that arrive
 * while others are queued or written wait together and are written together, as one
 * transaction with a savepoint each (a group commit): under a storm of agent results a fan-out
 * waits for the group being written, not for every batch queued before it. On PostgreSQL each
 * is a transaction of its own on the writer's pool, side by side, run again when PostgreSQL
 * aborted it: the event loop waits once for the batch, not once per statement.
 */
export async function writeBatch(ctx: Ctx, steps: BatchStep[]): Promise<BatchResults> {
  if (isTx(ctx.db)) return savepoint(ctx.db, (tx) => (dialectOfHandle(tx) === "pg" ? runStepsPg(pgClientOf(tx), steps) : runSteps(tx.$client, steps)));
  const runner = runnerOf(ctx.db);
  if (runner.kind === "pg") {
    const [outcome] = await timed("batch", () => runner.bulk.run([steps]));
    if ("error" in outcome) throw outcome.error;
    return outcome.results;
  }
  return new Promise((resolve, reject) => {
    const joining = runner.group;
    const group = joining ?? (runner.group = []);
    group.push({ steps, resolve, reject });
    if (joining) return;
    void inTurn(runner, () => {
      // The group closes when its turn comes: batches from now on form the next one.
      runner.group = undefined;
      return timed("batch", () => runner.bulk.run(group.map((b) => b.steps)));
    }).then(
      async (outcomes) => {
        // The batches' callers go on in stretches (`pacer()`) with a turn of the loop between:
        // answering a batch of agent results is hundreds of socket writes, and a group holds
        // several batches.
        const pace = pacer();
        for (const [i, b] of group.entries()) {
          const o = outcomes[i];
          if ("error" in o) b.reject(o.error);
          else b.resolve(o.results);
          await pace();
        }
      },
      (e: unknown) => {
        for (const b of group) b.reject(e);
      },
    );
  });
}

/** Runs `job` when every write queued before it has ended, and no write beside it. */
function inTurn<T>(runner: WriteRunner, job: () => Promise<T>): Promise<T> {
  // A queue of transactions runs back to back in one drain of the microtask queue: once that
  // has gone on for STRETCH_MS, the next one starts on a later turn of the event loop.
  const queued = runner.depth > 0;
  const run = runner.tail.then(async () => {
    if (!queued) runner.since = performance.now();
    else if (performance.now() - runner.since > STRETCH_MS) {
      await breathe();
      runner.since = performance.now();
    }
    return job();
  });
  runner.depth++;
  runner.tail = run.then(
    () => runner.depth--,
    () => runner.depth--,
  );
  return run;
}

async function transaction<T>(tx: Tx, fn: (tx: Tx) => Promise<T> | T): Promise<T> {
  const sqlite = tx.$client;
  await begin(sqlite);
  try {
    const result = await fn(tx);
    statement(sqlite, "COMMIT").run();
    return result;
  } catch (e) {
    // A failed COMMIT (a full disk) leaves the transaction open: roll it back too.
    if (sqlite.inTransaction) statement(sqlite, "ROLLBACK").run();
    throw e;
  }
}

/**
 * BEGIN IMMEDIATE, waiting up to BUSY_TIMEOUT_MS for another process's write lock in short
 * sleeps on timers, so that the event loop goes on meanwhile. In WAL mode the lock is only
 * ever contended here: once it is held, no statement of the transaction, nor its COMMIT, waits.
 */
async function begin(sqlite: Tx["$client"]): Promise<void> {
  const deadline = performance.now() + BUSY_TIMEOUT_MS;
  for (let pause = 1; ; pause = Math.min(pause * 2, 10)) {
    try {
      statement(sqlite, "BEGIN IMMEDIATE").run();
      return;
    } catch (e) {
      const left = deadline - performance.now();
      if (!isDatabaseBusy(e) || left <= 0) throw e;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    }
  }
}

/** BEGIN … COMMIT on a connection of the pool, held for the whole transaction; run again when PostgreSQL aborted it. */
async function pgTransaction<T>(runner: PgRunner, fn: (tx: Tx) => Promise<T> | T, commit: Commit = "flushed"): Promise<T> {
  // One round trip either way: statements without parameters go as one simple query.
  const begin = commit === "lazy" ? "BEGIN READ WRITE; SET LOCAL synchronous_commit TO off" : "BEGIN READ WRITE";
  return retryingAborted(() => inPgTransaction(runner.pool, begin, async (client) => fn(pgTxOf(client))), console.warn);
}

/** The transaction handle on a pooled connection, made once per connection. */
const pgTxs = new WeakMap<pg.PoolClient, Tx>();
function pgTxOf(client: pg.PoolClient): Tx {
  let tx = pgTxs.get(client);
  if (!tx) pgTxs.set(client, (tx = asTx(pgHandle(client), "pg")));
  return tx;
}
const pgClientOf = (tx: Tx) => tx.$client as unknown as pg.PoolClient;

async function savepoint<T>(tx: Tx, fn: (tx: Tx) => Promise<T> | T): Promise<T> {
  if (dialectOfHandle(tx) === "pg") return pgSavepoint(pgClientOf(tx), () => fn(tx));
  const sqlite = tx.$client;
  statement(sqlite, "SAVEPOINT nested").run();
  try {
    const result = await fn(tx);
    statement(sqlite, "RELEASE nested").run();
    return result;
  } catch (e) {
    if (sqlite.inTransaction) {
      statement(sqlite, "ROLLBACK TO nested").run();
      statement(sqlite, "RELEASE nested").run();
    }
    throw e;
  }
}

async function pgSavepoint<T>(client: pg.PoolClient, fn: () => Promise<T> | T): Promise<T> {
  await client.query("SAVEPOINT nested");
  try {
    const result = await fn();
    await client.query("RELEASE nested");
    return result;
  } catch (e) {
    try {
      await client.query("ROLLBACK TO nested");
      await client.query("RELEASE nested");
    } catch {
      // The connection failed (and the transaction with it): the first error says why, and
      // is the one the caller answers by (a lost connection is "unavailable", not a fault).
    }
    throw e;
  }
}

const statements = new WeakMap<object, Map<string, { run: () => unknown }>>();
function statement(sqlite: Tx["$client"], text: string) {
  let cache = statements.get(sqlite);
  if (!cache) statements.set(sqlite, (cache = new Map()));
  let stmt = cache.get(text);
  if (!stmt) cache.set(text, (stmt = sqlite.prepare(text)));
  return stmt;
}

/** Waits until no write transaction is running or waiting, those queued meanwhile included (shutdown). */
export async function writesSettled(db: Db): Promise<void> {
  const runner = runnerOf(db);
  // PostgreSQL's transactions each hold a connection: the pool's end, and the bulk writer's
  // close, wait for them (closeDatabase).
  if (runner.kind === "pg") return;
  while (runner.depth > 0) await runner.tail;
}

/**
 * A turn of the event loop for everything else, from inside a long transaction: other
 * requests' reads, sockets and timers run; other writes wait for the commit.
 *
 * Work that breathes resumes one piece per turn of the loop, in the order it breathed: with
 * an immediate each, every piece that breathed during one turn would resume in the next turn's
 * check phase, back to back, and ten of them running a stretch each would hold the loop ten
 * stretches long.
 */
export const breathe = (): Promise<void> =>
  new Promise((resolve) => {
    breathing.push(resolve);
    if (breathing.length === 1) setImmediate(resumeOne);
  });

const breathing: (() => void)[] = [];
function resumeOne(): void {
  const next = breathing.shift()!;
  if (breathing.length) setImmediate(resumeOne);
  next();
}

/**
 * The longest stretch of work a pacer allows between two turns of the event loop. A turn can
 * hold a stretch, the socket reads that came meanwhile and a garbage collection: at 10 ms the
 * result storm's longest turns passed 50 ms in most runs, at 5 ms in few (docs/performance.md,
 * "Shorter stretches").
 */
export const STRETCH_MS = 5;

/**
 * For work whose rows cost unlike amounts (a device is several statements, a result one or
 * three): call the returned function after each row, and it lets the event loop turn
 * whenever the work since the last turn took `stretchMs`.
 */
export function pacer(stretchMs = STRETCH_MS): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < stretchMs) return;
    await breathe();
    since = performance.now();
  };
}

/** Runs `each` over `items` `size` at a time, with a turn of the loop between chunks. */
export async function inChunks<T>(items: readonly T[], size: number, each: (chunk: readonly T[], offset: number) => void | Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) {
    if (i > 0) await breathe();
    await each(items.slice(i, i + size), i);
  }
}

/**
 * The database as a library that writes on its own sees it (better-auth's drizzle adapter):
 * its reads go to the read connection, and each insert, update or delete it builds runs, when
 * awaited, as a transaction of its own through the runner — never inside another request's.
 */
export function writesThroughRunner(db: Db): Db {
  const deferred = (steps: [PropertyKey, unknown[]][]): unknown =>
    new Proxy(() => {}, {
      get(_, prop) {
        if (prop === "then") {
          return (resolve: (v: unknown) => unknown, reject: (e: unknown) => unknown) =>
            withTransaction({ db }, (tx) => replay(tx, steps)).then(resolve, reject);
        }
        return (...args: unknown[]) => deferred([...steps, [prop, args]]);
      },
    });
  const replay = (tx: Tx, steps: [PropertyKey, unknown[]][]) =>
    steps.reduce<unknown>((builder, [method, args]) => (builder as Record<PropertyKey, (...a: unknown[]) => unknown>)[method](...args), tx) as Promise<unknown>;
  return new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === "insert" || prop === "update" || prop === "delete") return (...args: unknown[]) => deferred([[prop, args]]);
      if (prop === "transaction") throw new Error("Write through withTransaction");
      return Reflect.get(target, prop, receiver);
    },
  });
}
