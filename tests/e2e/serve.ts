// The server the browser tests drive: a fresh temporary database with the demo data,
// the real production build, one process. Playwright starts and stops it.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seedDemo } from "../../lib/demo/seed";
import { startServer } from "../../server";

// E2E_DATA_DIR (set by playwright.config.ts) puts the database where the specs can open it
// (tests/e2e/support/db.ts); it starts empty all the same.
const fixed = process.env.E2E_DATA_DIR;
if (fixed) {
  rmSync(fixed, { recursive: true, force: true });
  mkdirSync(fixed, { recursive: true });
}
const dir = fixed ?? mkdtempSync(join(tmpdir(), "taskwire-e2e-"));
const server = await startServer(
  { DATABASE_URL: join(dir, "taskwire.db"), NODE_ENV: "production" },
  { beforeListen: async (db) => void (await seedDemo({ db })) },
);
console.log(`Taskwire listening on ${server.url}`);
const stop = () => void server.close().then(() => process.exit(0));
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
