import { randomUUID } from "node:crypto";
import { max, sql } from "drizzle-orm";
import type { Db } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import { nodes } from "../../db/schema";
import { extendLeasesAfterDowntime } from "../tasks/due";

/** How often the running server records that it is alive: the error on a measured downtime. */
export const NODE_BEAT_MS = 5_000;
/**
 * No lease is judged in this long after start: agents reconnect at most 30 s apart
 * (docs/agent-protocol.md §2), then re-send what they could not deliver.
 */
export const LEASE_GRACE_MS = 60_000;

export type Liveness = {
  nodeId: string;
  /** When a previous server on this database was last known alive; null if never. */
  lastSeen: Date | null;
  extended: number;
  graced: number;
  /** Stops beating, after one last beat (resolved once written or failed; never rejects). */
  stop: () => Promise<void>;
};

/**
 * Records this process in `nodes`, lengthens the leases the downtime ate into (see
 * extendLeasesAfterDowntime), and from then on notes every NODE_BEAT_MS that the server is
 * alive — one single-row UPDATE — so the next start knows how long it was down, however it
 * stopped (kill -9 and power cuts included).
 */
export async function startLiveness(ctx: { db: Db }, opts: { now?: () => Date; beatMs?: number; graceMs?: number } = {}): Promise<Liveness> {
  const now = opts.now ?? (() => new Date());
  const nodeId = randomUUID();
  const started = now();
  const { lastSeen, extended, graced } = await withTransaction(ctx, async (tx) => {
    const [row] = await tx.select({ seen: max(nodes.seenAt) }).from(nodes);
    const lastSeen = row?.seen ?? null;
    // One server runs on a database file: earlier rows are only the previous runs.
    await tx.delete(nodes);
    await tx.insert(nodes).values({ id: nodeId, startedAt: started, seenAt: started });
    const graceUntil = new Date(started.getTime() + (opts.graceMs ?? LEASE_GRACE_MS));
    return { lastSeen, ...(await extendLeasesAfterDowntime(tx, { lastSeen, now: started, graceUntil })) };
  });

  const beat = async () => {
    try {
      const at = now();
      await withTransaction(ctx, async (tx) => {
        await tx
          .insert(nodes)
          .values({ id: nodeId, startedAt: started, seenAt: at })
          .onConflictDoUpdate({ target: nodes.id, set: { seenAt: sql`excluded.seen_at` } });
      });
    } catch (e) {
      // A missed beat only makes a later downtime look longer: leases get more time, not less.
      console.error("Recording that the server is alive failed", e);
    }
  };
  const timer = setInterval(() => void beat(), opts.beatMs ?? NODE_BEAT_MS);
  timer.unref();
  return {
    nodeId,
    lastSeen,
    extended,
    graced,
    stop: () => {
      clearInterval(timer);
      return beat();
    },
  };
}
