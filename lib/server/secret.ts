import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { PoolClient } from "pg";
import { runnerOf, type Db } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import { BadFileError, ensurePrivateDir, writeFileAtomic } from "./files";

/** As BETTER_AUTH_SECRET: shorter is not a secret worth signing sessions with. */
export const MIN_SECRET_CHARS = 32;

/**
 * The auth secret: BETTER_AUTH_SECRET when given, else one generated into the data folder
 * on first start (mode 0600) and reused after, so sessions survive restarts. A file that is
 * empty or short (a first start on a full disk, an edit gone wrong) stops start-up: signing
 * sessions with it would fail on every request.
 */
export function ensureSecret(databaseFile: string, given?: string): string {
  if (given) return given;
  const dir = dataDir(databaseFile);
  ensurePrivateDir(dir);
  const file = join(dir, "auth-secret");
  const existing = readIfPresent(file);
  if (existing === undefined) {
    writeFileAtomic(file, `${newSecret()}\n`, { exclusive: true });
  }
  const secret = (readIfPresent(file) ?? "").trim();
  if (secret.length < MIN_SECRET_CHARS) {
    throw new BadFileError(
      file,
      `holds ${secret.length ? `only ${secret.length} characters` : "nothing"}, not a secret of at least ${MIN_SECRET_CHARS}`,
      "Delete it to have a new one generated at the next start (everyone signed in will have to sign in again), or set BETTER_AUTH_SECRET.",
    );
  }
  return secret;
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** The folder beside the database where generated secrets live. */
export function dataDir(databaseFile: string): string {
  return databaseFile === ":memory:" ? resolve("data") : dirname(resolve(databaseFile));
}

/**
 * A secret every node shares, kept in PostgreSQL (server_secrets): the first node to ask
 * writes `make()`, and every node, that one included, reads back the one that was kept.
 */
export async function sharedSecret(db: Db, name: "auth-secret" | "signing-key", make: () => string): Promise<string> {
  if (runnerOf(db).kind !== "pg") throw new Error("Shared secrets live in PostgreSQL; one SQLite node keeps them in files");
  const made = make();
  return withTransaction({ db }, async (tx) => {
    const client = tx.$client as unknown as PoolClient;
    await client.query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING", [name, made, Date.now()]);
    const { rows } = await client.query<{ value: string }>("SELECT value FROM server_secrets WHERE name = $1", [name]);
    return rows[0].value;
  });
}

/** A new session secret. */
export const newSecret = (): string => randomBytes(32).toString("base64url");
