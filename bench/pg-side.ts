// A helper process of a benchmark run on PostgreSQL (forked by bench/lib/pg-side.ts, driven
// over IPC). A process runs on one dialect, its DATABASE_URL's (db/dialect.ts), and the
// bench's own is SQLite, which builds the data. This one's is PostgreSQL, so here the
// domain's tables and statements are PostgreSQL's: it migrates the benchmark's databases
// (openDatabase, as a server would), and captures the statements a domain read issues on
// PostgreSQL through drizzle's logger, for the SQL floor (bench/lib/sql.ts) to replay.
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { closeDatabase, openDatabase, type Db } from "../db/client";
import { PROCESS_DIALECT } from "../db/dialect";
import * as schema from "../db/schema/pg";
import { runRead, type DomainRead } from "./lib/reads";
import type { Captured } from "./lib/sql";

export type SideCommand = { cmd: "migrate"; url: string } | { cmd: "capture"; url: string; read: DomainRead };
type Request = SideCommand & { id: number };

if (PROCESS_DIALECT !== "pg") {
  console.error("bench/pg-side.ts runs with DATABASE_URL set to a postgres:// URL");
  process.exit(2);
}

const send = (m: unknown) => process.send!(m);

/** One capturing handle per database: a client of its own, its statements logged as they are sent. */
type Capturer = { db: Db; client: pg.Client; log: Captured };
const capturers = new Map<string, Promise<Capturer>>();

async function capturer(url: string): Promise<Capturer> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const log: Captured = [];
  const db = drizzle({ client, schema, logger: { logQuery: (sql, params) => void log.push({ sql, params }) } }) as unknown as Db;
  return { db, client, log };
}

async function capture(url: string, read: DomainRead): Promise<{ statements: Captured; items: number }> {
  if (!capturers.has(url)) capturers.set(url, capturer(url));
  const c = await capturers.get(url)!;
  c.log.length = 0;
  const items = await runRead(c.db, read);
  return { statements: c.log.splice(0), items };
}

async function handle(c: SideCommand): Promise<unknown> {
  switch (c.cmd) {
    case "migrate":
      // Migrations and triggers exactly as a node applies them when it starts.
      await closeDatabase(await openDatabase(c.url));
      return null;
    case "capture":
      return capture(c.url, c.read);
  }
}

process.on("message", (m: Request) => {
  handle(m).then(
    (result) => send({ id: m.id, ok: true, result }),
    (e: unknown) => send({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});
process.on("disconnect", () => {
  void Promise.allSettled([...capturers.values()].map(async (c) => (await c).client.end())).then(() => process.exit(0));
});
send({ event: "ready" });
