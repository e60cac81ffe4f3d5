import { RateLimiterDrizzle, RateLimiterMemory, type RateLimiterAbstract } from "rate-limiter-flexible";
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
