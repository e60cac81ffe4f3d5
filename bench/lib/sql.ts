// "The same SQL query alone": the statements a domain read issues, captured once through
// drizzle's logger, then replayed as raw prepared statements — no HTTP, no Next.js, no React,
// no drizzle mapping. The floor a page or an API answer cannot go below.
//   SQLite: captured in this process, replayed as better-sqlite3 prepared statements.
//   PostgreSQL: captured in the helper process (bench/pg-side.ts: this process's statements
//   are SQLite's), replayed as named prepared statements on a pg client of their own.
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { drizzle } from "drizzle-orm/better-sqlite3";
import pg from "pg";
import type { Db } from "../../db/client";
import { dialectOf } from "../../db/dialect";
import * as schema from "../../db/schema";
import type { PgSide } from "./pg-side";
import { runRead, type DomainRead } from "./reads";
import { now } from "./stats";

export type Captured = { sql: string; params: unknown[] }[];
/** The statements of one read, in order, and how many tasks it listed. */
export type Capture = { statements: Captured; items: number };

export interface SqlFloor {
  /** The statements `read` issues (one capture at a time). */
  capture(read: DomainRead): Promise<Capture>;
  /** Runs the captured statements `n` times, after 5 unmeasured; the time of each run, in ms. */
  replay(statements: Captured, n: number): Promise<number[]>;
  close(): Promise<void>;
}

const WARMUP = 5;

/** The floor of the database a server runs on: a SQLite file, or a PostgreSQL URL (which needs the helper). */
export async function sqlFloor(target: string, side?: PgSide): Promise<SqlFloor> {
  if (dialectOf(target) === "sqlite") return new SqliteFloor(target);
  if (!side) throw new Error("the SQL floor on PostgreSQL captures through the PostgreSQL helper process");
  return PgFloor.open(target, side);
}

class SqliteFloor implements SqlFloor {
  private readonly sqlite: Database.Database;
  private captured: Captured = [];
  private readonly db: Db;

  constructor(file: string) {
    this.sqlite = new Database(file, { readonly: true, fileMustExist: true });
    this.db = drizzle(this.sqlite, { schema, logger: { logQuery: (sql, params) => this.captured.push({ sql, params }) } }) as Db;
  }

  async capture(read: DomainRead): Promise<Capture> {
    this.captured = [];
    const items = await runRead(this.db, read);
    const statements = this.captured;
    this.captured = [];
    return { statements, items };
  }

  async replay(statements: Captured, n: number): Promise<number[]> {
    const prepared = statements.map((s) => ({ stmt: this.sqlite.prepare(s.sql), params: s.params }));
    // Synchronous from end to end: nothing but the statements is timed.
    const run = () => {
      for (const p of prepared) {
        if (p.stmt.reader) p.stmt.all(...(p.params as unknown[]));
        else p.stmt.run(...(p.params as unknown[]));
      }
    };
    for (let i = 0; i < WARMUP; i++) run();
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = now();
      run();
      times.push(now() - t);
    }
    return times;
  }

  async close(): Promise<void> {
    this.sqlite.close();
  }
}

class PgFloor implements SqlFloor {
  private constructor(
    private readonly url: string,
    private readonly side: PgSide,
    private readonly client: pg.Client,
  ) {}

  static async open(url: string, side: PgSide): Promise<PgFloor> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return new PgFloor(url, side, client);
  }

  capture(read: DomainRead): Promise<Capture> {
    return this.side.capture(this.url, read);
  }

  async replay(statements: Captured, n: number): Promise<number[]> {
    // Named by their text: the client prepares each once on this connection (parse and plan
    // the first time, bind and execute after), as better-sqlite3's prepared statements do.
    // Rows as arrays, as drizzle asks node-postgres for them.
    const queries = statements.map((s) => ({ name: `floor_${createHash("sha1").update(s.sql).digest("hex").slice(0, 16)}`, text: s.sql, values: s.params, rowMode: "array" as const }));
    const run = async () => {
      for (const q of queries) await this.client.query(q);
    };
    for (let i = 0; i < WARMUP; i++) await run();
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = now();
      await run();
      times.push(now() - t);
    }
    return times;
  }

  close(): Promise<void> {
    return this.client.end();
  }
}
