// npm run backup -- <destination file> [--database <file>] [--force]
// A consistent copy of the database, safe to take while the server runs (e.g. from cron).
import { parseArgs } from "node:util";
import { z } from "zod";
import { readEnv } from "../lib/env";
import { BackupError, backupDatabase } from "../lib/server/backup";

const USAGE = `Usage: npm run backup -- <destination file> [--database <file>] [--force]

Copies the Taskwire database into one self-contained SQLite file, checked after copying.
Safe while the server runs. To restore: stop the server, copy the file back to the
database path (removing any -wal and -shm files beside it), start again.

  <destination file>   where the copy goes (its folder is created if missing)
  --database <file>    the database to copy (default: DATABASE_URL, else data/taskwire.db)
  --force              replace the destination if it exists
  --help               show this help`;

const argsSchema = z.object({
  positionals: z
    .array(z.string().min(1, "The destination must not be empty"))
    .min(1, "Name the destination file")
    .max(1, "Give exactly one destination file"),
  values: z.object({
    database: z.string().min(1, "--database needs a file").optional(),
    force: z.boolean().default(false),
    help: z.boolean().default(false),
  }),
});

const options = { database: { type: "string" }, force: { type: "boolean" }, help: { type: "boolean" } } as const;
let raw: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
try {
  raw = parseArgs({ args: process.argv.slice(2), options, allowPositionals: true });
} catch (e) {
  // parseArgs names the unknown or malformed flag itself.
  console.error(`${(e as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (raw.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const args = argsSchema.safeParse(raw);
if (!args.success) {
  console.error(`${args.error.issues[0].message}\n\n${USAGE}`);
  process.exit(2);
}

try {
  const database = args.data.values.database ?? readEnv().DATABASE_URL;
  const r = await backupDatabase(database, args.data.positionals[0], { force: args.data.values.force });
  console.log(`Backed up ${database} to ${r.file}: ${r.tasks} tasks, ${(r.bytes / 1024 / 1024).toFixed(1)} MB, in ${(r.ms / 1000).toFixed(1)} s`);
} catch (e) {
  console.error(e instanceof BackupError || (e instanceof Error && e.name === "DamagedDatabaseError") ? e.message : `Backup failed: ${(e as Error).message}`);
  process.exit(1);
}
