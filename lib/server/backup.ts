import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { dialectOf, redactUrl } from "../../db/dialect";
import { checkIntegrity } from "../../db/integrity";
import { ensurePrivateDir, fsyncDir } from "./files";

export class BackupError extends Error {}

export type BackupResult = { file: string; bytes: number; tasks: number; ms: number };

/**
 * Copies a database — live or not — into one self-contained file with SQLite's online
 * backup API: a consistent snapshot, taken while the server keeps writing (under WAL the
 * copy is a reader and blocks nobody). The copy is written beside its destination, checked
 * (quick_check, rollback journal so it needs no -wal/-shm), made private and only then
 * renamed into place, so a failed or interrupted backup never leaves a half file under the
 * destination's name.
 */
export async function backupDatabase(source: string, destination: string, opts: { force?: boolean } = {}): Promise<BackupResult> {
  const started = Date.now();
  if (dialectOf(source) === "pg") {
    throw new BackupError(
      `${redactUrl(source)} is a PostgreSQL database; this backup copies a SQLite file. Back PostgreSQL up with pg_dump (docs/deploy.md).`,
    );
  }
  const src = resolve(source);
  const dest = resolve(destination);
  if (!existsSync(src)) throw new BackupError(`There is no database at ${src}`);
  if (dest === src) throw new BackupError("The destination is the database itself");
  if (existsSync(dest) && !opts.force) throw new BackupError(`${dest} exists; pass --force to replace it`);
  ensurePrivateDir(dirname(dest));
  const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString("hex")}.tmp`);
  const db = new Database(src, { fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    // The backup restarts whenever the server writes between two steps: after the first
    // step, copy everything left in one, which is one read transaction and cannot restart.
    await db.backup(tmp, { progress: ({ totalPages }) => Math.max(totalPages, 100) });
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new BackupError(`Copying ${src} failed: ${(e as Error).message}`);
  } finally {
    db.close();
  }
  let tasks: number;
  try {
    chmodSync(tmp, 0o600);
    const copy = new Database(tmp, { fileMustExist: true });
    try {
      copy.pragma("journal_mode = DELETE");
      checkIntegrity(copy, tmp);
      tasks = (copy.prepare("select count(*) as n from tasks").get() as { n: number }).n;
    } finally {
      copy.close();
    }
    const fd = openSync(tmp, "r+");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, dest);
    fsyncDir(dirname(dest));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e instanceof BackupError ? e : new BackupError(`Checking the copy of ${src} failed: ${(e as Error).message}`);
  }
  return { file: dest, bytes: statSync(dest).size, tasks, ms: Date.now() - started };
}
