import { z } from "zod";
import { RETENTION_DAYS } from "../rules/retention";
import { CLOCK_MAX_SLEEP_MS } from "../rules/tasks";

const bool = z.enum(["0", "1", "true", "false"]).transform((v) => v === "1" || v === "true");

/**
 * A whole number in decimal digits, within its bounds. An empty value is unset (what
 * `PORT=${PORT}` gives when PORT is not set). z.coerce would read "" as 0 and take "0x10" or
 * "1e3", which nobody means in a variable.
 */
export const wholeNumberVar = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === "string" && v.trim() === "" ? undefined : v),
    z
      .string()
      .trim()
      .regex(/^\d+$/, "Write a whole number in decimal digits")
      .transform(Number)
      .pipe(z.number().min(min, `At least ${min}`).max(max, `At most ${max}`))
      .optional(),
  );

/** Every environment variable the server reads, parsed once; a bad value stops start-up with its name. */
export const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: wholeNumberVar(0, 65535).default(3000),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATABASE_URL: z
    .string()
    .min(1)
    .default("data/taskwire.db")
    .refine((v) => !/^[a-z]+:\/\//i.test(v) || /^(file:|postgres(ql)?:\/\/)/i.test(v), "DATABASE_URL is a file path (SQLite) or a postgres:// URL")
    .transform((v) => v.replace(/^file:(\/\/)?/, "")),
  // PostgreSQL only: connections each node keeps open at most for its requests (its bulk
  // writer keeps half as many again, rounded up: db/client.ts).
  TASKWIRE_PG_POOL: wholeNumberVar(2, 200).default(10),
  BETTER_AUTH_SECRET: z.string().min(32, "BETTER_AUTH_SECRET must be at least 32 characters").optional(),
  // The agents' Ed25519 signing key as PKCS#8 PEM; else the data folder's (SQLite) or the database's (PostgreSQL).
  TASKWIRE_SIGNING_KEY: z.string().min(1).optional(),
  BETTER_AUTH_URL: z.string().url().optional(),
  TASKWIRE_SQLITE_SYNC: z.enum(["NORMAL", "FULL"]).default("NORMAL"),
  // PRAGMA quick_check before anything writes: seconds at a million tasks (docs/security.md).
  // "off" for operators who check their backups and files by other means and want fast restarts.
  TASKWIRE_STARTUP_CHECK: z.enum(["quick", "off"]).default("quick"),
  TASKWIRE_SECURE_COOKIES: bool.default(false),
  TASKWIRE_SIGNIN_PER_MINUTE: wholeNumberVar(1, 10_000).default(10),
  TASKWIRE_TRUST_PROXY: bool.default(false),
  // How often the clock re-reads the database at the latest, whatever it expects next.
  TASKWIRE_CLOCK_MAX_SLEEP_MS: wholeNumberVar(10, 3_600_000).default(CLOCK_MAX_SLEEP_MS),
  // Several nodes: how often each re-sends what still waits on its devices (lib/agents/dispatcher.ts).
  TASKWIRE_DISPATCH_SWEEP_MS: wholeNumberVar(1_000, 3_600_000).default(15_000),
  // How often every open staged rollout is looked at (a pause between waves that ended, lib/server/rollouts.ts).
  TASKWIRE_ROLLOUT_SWEEP_MS: wholeNumberVar(100, 3_600_000).default(5_000),
  // The most days any organization keeps finished tasks, whatever its own setting (rules/retention.ts); unset: no ceiling.
  TASKWIRE_RETENTION_MAX_DAYS: wholeNumberVar(RETENTION_DAYS.min, RETENTION_DAYS.max),
  // How often the retention purge looks for what is past its time (lib/server/purger.ts).
  TASKWIRE_PURGE_INTERVAL_MS: wholeNumberVar(1_000, 86_400_000).default(3_600_000),
  // How often open live connections have their session read again (sign-out, removal).
  TASKWIRE_LIVE_RECHECK_MS: wholeNumberVar(100, 3_600_000).default(60_000),
  // Benchmarks only (npm run bench): measure event-loop delay and serve it to loopback callers.
  TASKWIRE_LOOP_MONITOR: bool.default(false),
});

export type Env = z.output<typeof envSchema>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const result = envSchema.safeParse(source);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid environment:\n${lines.join("\n")}`);
  }
  return result.data;
}
