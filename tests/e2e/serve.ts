// The server the browser tests drive: a fresh temporary database with the demo data,
// the real production build, one process. Playwright starts and stops it.
import { mkdirSync, rmSync } from "node:fs";
import pg from "pg";
import { seedDemo } from "../../lib/demo/seed";
import { startServer } from "../../server";
import { serverDbUrl } from "./support/agents";

// E2E_DATA_DIR (set by playwright.config.ts) puts the database where the specs can open it
// (tests/e2e/support/agents.ts, serverDbUrl); it starts empty all the same. On PostgreSQL, a
// database named after the folder is made anew on the throwaway cluster.
const dir = process.env.E2E_DATA_DIR!;
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const url = serverDbUrl();
if (process.env.TASKWIRE_TEST_PG_URL) {
  const admin = new pg.Client({ connectionString: process.env.TASKWIRE_TEST_PG_URL });
  await admin.connect();
  const name = new URL(url).pathname.slice(1);
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
}
const server = await startServer(
  { DATABASE_URL: url, NODE_ENV: "production" },
  { beforeListen: async (db) => void (await seedDemo({ db })) },
);
console.log(`Taskwire listening on ${server.url}`);
// The folder goes with the server: nothing of a run is left in the temporary directory.
const stop = () =>
  void server.close().then(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
