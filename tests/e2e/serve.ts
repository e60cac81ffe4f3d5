// The server the browser tests drive: a fresh temporary database with the demo data,
// the real production build, one process. Playwright starts and stops it.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seedDemo } from "../../db/seed";
import { startServer } from "../../server";

const dir = mkdtempSync(join(tmpdir(), "taskwire-e2e-"));
const server = await startServer(
  { DATABASE_URL: join(dir, "taskwire.db"), NODE_ENV: "production" },
  { beforeListen: async (db) => void (await seedDemo(db)) },
);
console.log(`Taskwire listening on ${server.url}`);
const stop = () => void server.close().then(() => process.exit(0));
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
