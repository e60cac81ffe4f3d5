import { RateLimiterDrizzle, RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { runnerOf, type Db } from "../../db/client";
import { rateLimits } from "../../db/schema";
import { writesThroughRunner } from "../../db/transaction";

export type LimitOptions = { keyPrefix: string; points: number; duration: number };

/**
 * A limit on how often something may happen, counted where every way in sees the same count:
 * on SQLite in the one process's memory; on PostgreSQL in `rate_limits`, by every node
 * together (rate-limiter-flexible's drizzle store, one upsert per point taken, as a
 * transaction of its own), so a client spreading its attempts over the nodes gains nothing.
 * For limits whose points come at a low rate: enrollments, connects.
 */
export function sharedLimiter(db: Db, opts: LimitOptions): RateLimiterAbstract {
  if (runnerOf(db).kind !== "pg" || !rateLimits) return new RateLimiterMemory(opts);
  return new RateLimiterDrizzle({ ...opts, storeClient: writesThroughRunner(db), schema: rateLimits });
}

/**
 * Takes one point of `key`'s allowance. Resolves to `{ ok: true }` when it was taken, to
 * `{ ok: false, retryInMs }` when the allowance is used up; rejects on the limiter's own
 * fault (its store unreachable, say), which each caller weighs: a limiter that fails is no
 * reason to refuse an agent or a browser, and is one to refuse an enrollment.
 */
export async function takePoint(limiter: RateLimiterAbstract, key: string): Promise<{ ok: true } | { ok: false; retryInMs: number }> {
  try {
    await limiter.consume(key);
    return TAKEN;
  } catch (e) {
    // A limit reached rejects with the limiter's verdict; anything else is its own fault.
    if (e instanceof RateLimiterRes) return { ok: false, retryInMs: e.msBeforeNext };
    throw e;
  }
}

const TAKEN = { ok: true } as const;

/**
 * For a caller a limiter's fault lets through (an agent's events, a browser's live channel):
 * takes one point of `key`'s allowance and resolves false only when it is used up; a fault is
 * logged as `what`.
 */
export async function passes(limiter: RateLimiterAbstract, key: string, what: string): Promise<boolean> {
  try {
    return (await takePoint(limiter, key)).ok;
  } catch (e) {
    return letThroughOnFault(what)(e);
  }
}

/** For a `.catch`: logs a limiter's fault as `what` and lets the caller through. */
export const letThroughOnFault =
  (what: string) =>
  (e: unknown): true => {
    console.error(what, e);
    return true;
  };
