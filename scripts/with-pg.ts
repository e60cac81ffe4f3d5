import { spawn } from "node:child_process";
import { z } from "zod";
import { startThrowawayPg } from "./lib/throwaway-pg";

// Runs a command against a throwaway PostgreSQL (`npm test` runs the suites through this):
// DATABASE_URL names its `postgres` database, and TASKWIRE_TEST_PG_URL the same, for tests
// that create a database of their own per file. Stopped and removed when the command ends.

const args = z.array(z.string()).min(1, "usage: tsx scripts/with-pg.ts <command> [args…]").safeParse(process.argv.slice(2));
if (!args.success) {
  console.error(args.error.issues[0].message);
  process.exit(2);
}
const pg = await startThrowawayPg();
const stop = () => pg.stop();
process.on("exit", stop);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));
const [cmd, ...rest] = args.data;
const child = spawn(cmd, rest, { stdio: "inherit", env: { ...process.env, DATABASE_URL: pg.url(), TASKWIRE_TEST_PG_URL: pg.url() } });
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
