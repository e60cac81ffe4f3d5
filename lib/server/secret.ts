import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/**
 * The auth secret: BETTER_AUTH_SECRET when given, else one generated into the data folder
 * on first start (mode 0600) and reused after, so sessions survive restarts.
 */
export function ensureSecret(databaseFile: string, given?: string): string {
  if (given) return given;
  const dir = dataDir(databaseFile);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "auth-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
  return secret;
}

/** The folder beside the database where generated secrets live. */
export function dataDir(databaseFile: string): string {
  return databaseFile === ":memory:" ? resolve("data") : dirname(resolve(databaseFile));
}
