import type Database from "better-sqlite3";
import { resolve } from "node:path";

// A damaged page is found at start, not by the request that happens to read it: the server
// refuses to run on a file SQLite itself reports as damaged, and says what to do instead.
// quick_check reads every page and checks the b-tree structure (not index contents against
// their tables, which integrity_check does at several times the cost).

/** How many of SQLite's findings are shown; a damaged file can list thousands. */
const SHOWN = 3;

export class DamagedDatabaseError extends Error {
  constructor(file: string, findings: string[]) {
    const path = resolve(file);
    super(
      `The database file ${path} is damaged (${findings.slice(0, SHOWN).join("; ")}${findings.length > SHOWN ? `; ${findings.length - SHOWN} more` : ""}). ` +
        `Do not run on it: stop, move it and its -wal and -shm files aside and restore the latest backup to ${path} (npm run backup -- <file> makes one; copy it back while the server is stopped).`,
    );
    this.name = "DamagedDatabaseError";
  }
}

/** SQLite's own word that a file is not a sound database (raised while opening or reading it). */
export function isCorruptionError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB");
}

/** Runs quick_check; throws DamagedDatabaseError naming the file on any finding. */
export function checkIntegrity(sqlite: Database.Database, file: string): void {
  let findings: string[];
  try {
    findings = (sqlite.pragma("quick_check") as { quick_check: string }[]).map((r) => r.quick_check);
  } catch (e) {
    if (isCorruptionError(e)) throw new DamagedDatabaseError(file, [(e as Error).message]);
    throw e;
  }
  if (findings.length === 1 && findings[0] === "ok") return;
  throw new DamagedDatabaseError(file, findings);
}
