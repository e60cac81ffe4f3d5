import { getTableName } from "drizzle-orm";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { runnerOf, type Db } from "../../db/client";
import { rateLimits } from "../../db/schema";
import { writeBatch } from "../../db/transaction";
import { takePoint } from "../server/limits";
import { TickBatch } from "./batch";

/**
 * Each device's connect allowance: `points` connects per `duration` seconds, counted where
 * every node sees the same count, like `sharedLimiter` (lib/server/limits.ts), and kept in the
 * same rows (`rate_limits`, key `agent-connect:<device>`, the points used and when they
 * expire). A fleet reconnects at once after a restart or a network cut, so on PostgreSQL the
 * points asked for in one turn of the loop are taken by one statement: a transaction each,
 * as rate-limiter-flexible's store takes them, made 10,000 agents connecting at once take
 * 29 s against 16 s with the allowance kept in memory (docs/performance.md). On SQLite, one
 * process: memory. Resolves true when the device may connect; rejects on the allowance's own fault.
 */
export function connectAllowance(db: Db, opts: { points: number; duration: number }): (deviceId: string) => Promise<boolean> {
  const keyPrefix = "agent-connect";
  if (runnerOf(db).kind !== "pg" || !rateLimits) {
    const memory = new RateLimiterMemory({ ...opts, keyPrefix });
    return async (deviceId) => (await takePoint(memory, deviceId)).ok;
  }
  const batch = new TickBatch(async (deviceIds: string[]) => {
    const now = Date.now();
    // One row per device with the points its connects in this batch take, in key order: two
    // nodes' batches lock the rows they share in the same order and never deadlock.
    const asked = new Map<string, number>();
    for (const id of deviceIds) asked.set(`${keyPrefix}:${id}`, (asked.get(`${keyPrefix}:${id}`) ?? 0) + 1);
    const rows = [...asked].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const [used] = await writeBatch({ db }, [{ sql: UPSERT, params: [now + opts.duration * 1000, JSON.stringify(rows), now, now], all: true }]);
    // The points each device had used before this batch; its connects here take the next ones, in order.
    const before = new Map((used as [string, number][]).map(([key, points]) => [key, Number(points) - asked.get(key)!]));
    return deviceIds.map((id) => {
      const key = `${keyPrefix}:${id}`;
      const n = before.get(key)! + 1;
      before.set(key, n);
      return n <= opts.points;
    });
  });
  return (deviceId) => batch.add(deviceId);
}

/**
 * rate-limiter-flexible's upsert (its drizzle store's), for many keys at once: [key, points]
 * pairs as a JSON array; a row whose points expired starts again from the new ones. PostgreSQL
 * only. Parameters: the new expiry, the pairs, now, now (epoch milliseconds).
 */
const UPSERT = (() => {
  const t = rateLimits ? getTableName(rateLimits) : "rate_limits";
  return `INSERT INTO ${t} (key, points, expire)
    SELECT e.value ->> 0, CAST(e.value ->> 1 AS integer), CAST(? AS bigint) FROM jsonb_array_elements(CAST(? AS jsonb)) WITH ORDINALITY AS e(value, ord) ORDER BY e.ord
    ON CONFLICT (key) DO UPDATE SET
      points = CASE WHEN ${t}.expire <= CAST(? AS bigint) THEN excluded.points ELSE ${t}.points + excluded.points END,
      expire = CASE WHEN ${t}.expire <= CAST(? AS bigint) THEN excluded.expire ELSE ${t}.expire END
    RETURNING key, points`;
})();
