// "The same SQL query alone": the statements a domain read issues, captured once through
// drizzle's logger, then replayed as raw better-sqlite3 prepared statements — no HTTP, no
// Next.js, no React, no drizzle mapping. The floor a page or an API answer cannot go below.
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import type { Db } from "../../db/client";
import * as schema from "../../db/schema";
import { now } from "./stats";

export type Captured = { sql: string; params: unknown[] }[];

export class SqlFloor {
  private readonly sqlite: Database.Database;
  private captured: Captured = [];
  readonly db: Db;

  constructor(file: string) {
    this.sqlite = new Database(file, { readonly: true, fileMustExist: true });
    this.db = drizzle(this.sqlite, { schema, logger: { logQuery: (sql, params) => this.captured.push({ sql, params }) } }) as Db;
  }

  /** The statements `read` issues, in order (one capture at a time). */
  async capture(read: (db: Db) => Promise<unknown>): Promise<Captured> {
    this.captured = [];
    await read(this.db);
    const out = this.captured;
    this.captured = [];
    return out;
  }

  /** Runs the captured statements `n` times; the time of each run, in ms. */
  replay(statements: Captured, n: number): number[] {
    const prepared = statements.map((s) => ({ stmt: this.sqlite.prepare(s.sql), params: s.params }));
    const run = () => {
      for (const p of prepared) {
        if (p.stmt.reader) p.stmt.all(...(p.params as unknown[]));
        else p.stmt.run(...(p.params as unknown[]));
      }
    };
    for (let i = 0; i < 5; i++) run();
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = now();
      run();
      times.push(now() - t);
    }
    return times;
  }

  close(): void {
    this.sqlite.close();
  }
}
