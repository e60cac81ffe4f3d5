import { randomUUID } from "node:crypto";
import { and, eq, gte, isNull, lt, max } from "drizzle-orm";
import type { Db, Tx } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import { alone, changedRows } from "../../db/portable";
import { nodes } from "../../db/schema";
import { releaseDevicesOf, releaseDevicesOfDeadNodes } from "../devices/connection";
import { extendLeasesAfterDowntime } from "../tasks/due";

/** How often a running node records that it is alive, and looks for nodes that are not. */
export const NODE_BEAT_MS = 5_000;
/** A node silent this long is dead: the others mark its devices offline. */
export const NODE_DEAD_MS = 30_000;
/**
 * No lease is judged in this long after a start that found no node alive: agents reconnect
 * at most 30 s apart (docs/agent-protocol.md §2), then re-send what they could not deliver.
 */
export const LEASE_GRACE_MS = 60_000;

export type Liveness = {
  nodeId: string;
  /** When a node on this database was last known alive before this one started; null if never. */
  lastSeen: Date | null;
  extended: number;
  graced: number;
  /**
   * Runs `check` after each beat that was recorded. `lost`: this node's row was gone, so
   * another node took it for dead (it was silent NODE_DEAD_MS: stalled, or cut off from the
   * database) and marked its devices offline while their connections here stayed up.
   */
  afterEachBeat: (check: (lost: boolean) => Promise<void>) => void;
  /** Stops beating; the node's row goes and its devices with it (resolved once done or failed; never rejects). */
  stop: () => Promise<void>;
};

/**
 * Records this node in `nodes` and from then on notes every NODE_BEAT_MS that it is alive —
 * one single-row UPDATE — so that the others, and the next start, know (kill -9 and power cuts
 * included). Each beat, and the start, also settle the nodes silent for NODE_DEAD_MS: their
 * rows go, and the devices connected through them are marked offline.
 *
 * `sole`: this node is the only one its database can have (SQLite: one process per file), so
 * every earlier row is a previous run, dead whatever its age. On PostgreSQL other nodes may be
 * running: only a start that finds none alive had downtime, and lengthens the leases it ate
 * into (see extendLeasesAfterDowntime).
 */
export async function startLiveness(ctx: { db: Db }, opts: { sole: boolean; now?: () => Date; beatMs?: number; graceMs?: number }): Promise<Liveness> {
  const now = opts.now ?? (() => new Date());
  const nodeId = randomUUID();
  const started = now();
  const { lastSeen, extended, graced } = await withTransaction(ctx, async (tx) => {
    // Nodes that start together start one after another: the second sees the first alive,
    // and only the first lengthens the leases a downtime ate into.
    await alone(tx, "nodeStarts");
    const [row] = await tx.select({ seen: max(nodes.seenAt) }).from(nodes);
    const lastSeen = row?.seen ?? null;
    const aliveSince = opts.sole ? started : new Date(started.getTime() - NODE_DEAD_MS);
    const alive = await settleDeadNodes(tx, aliveSince, { unowned: true });
    await tx.insert(nodes).values({ id: nodeId, startedAt: started, seenAt: started });
    if (alive.length) return { lastSeen, extended: 0, graced: 0 };
    const graceUntil = new Date(started.getTime() + (opts.graceMs ?? LEASE_GRACE_MS));
    return { lastSeen, ...(await extendLeasesAfterDowntime(tx, { lastSeen, now: started, graceUntil })) };
  });

  let check: ((lost: boolean) => Promise<void>) | undefined;
  // Others are judged only by a node whose own beats have been recorded for NODE_DEAD_MS: one
  // that could not reach the database for a while cannot tell a dead node from one that could
  // not reach it either (the database restarting cuts every node off at once).
  let judgeFrom = started.getTime();
  let failing = false;
  let beating = false;
  let checking = false;
  /** A beat found the row gone, and no check has run since. */
  let owed = false;
  const beat = async () => {
    // A beat still waiting (on a lock, on a connection) is not joined by another.
    if (beating) return;
    beating = true;
    let lost = false;
    try {
      const at = now();
      if (failing) judgeFrom = at.getTime() + NODE_DEAD_MS;
      lost = await withTransaction(ctx, async (tx) => {
        const kept = changedRows(await tx.update(nodes).set({ seenAt: at }).where(eq(nodes.id, nodeId)));
        if (!kept) await tx.insert(nodes).values({ id: nodeId, startedAt: started, seenAt: at });
        if (at.getTime() >= judgeFrom) await settleDeadNodes(tx, new Date(at.getTime() - NODE_DEAD_MS));
        return !kept;
      });
      // A beat held up half the time that makes a node dead counts as failed: the others' may
      // have been held up alike, and be near that time by no fault of theirs.
      failing = now().getTime() - at.getTime() > NODE_DEAD_MS / 2;
      if (lost) console.error("This server was taken for dead by another (its row was gone); its agents' devices are recorded as its own again");
    } catch (e) {
      // A missed beat only makes a later downtime look longer: leases get more time, not less.
      failing = true;
      console.error("Recording that the server is alive failed", e);
      return;
    } finally {
      beating = false;
    }
    // Apart from the beat: a check that waits (on a device's row) holds up no beat, and the
    // next beat runs what one found while a check was under way.
    if (lost) owed = true;
    if (checking || !check) return;
    checking = true;
    const wasLost = owed;
    owed = false;
    await check(wasLost)
      .catch((e) => console.error("Checking this server's agents' devices after its beat failed", e))
      .finally(() => (checking = false));
  };
  const timer = setInterval(() => void beat(), opts.beatMs ?? NODE_BEAT_MS);
  timer.unref();
  return {
    nodeId,
    lastSeen,
    extended,
    graced,
    afterEachBeat: (fn) => {
      check = fn;
    },
    stop: async () => {
      clearInterval(timer);
      // The last beat, marked as leaving: no longer alive for the others (who need not wait
      // NODE_DEAD_MS), and when it was last alive is kept for the next start. Its devices go
      // offline now.
      try {
        const at = now();
        await withTransaction(ctx, async (tx) => {
          await tx.update(nodes).set({ seenAt: at, leftAt: at }).where(eq(nodes.id, nodeId));
          await releaseDevicesOf(tx, nodeId);
        });
      } catch (e) {
        console.error("Recording that the server stopped failed", e);
      }
    },
  };
}

/**
 * Nodes that left, or were last seen before `aliveSince`, are not alive: their devices go
 * offline, and the rows of those silent since before `aliveSince` go. A step of the caller's
 * transaction. Returns the nodes alive. `unowned` (a start): devices online without any node
 * go offline too.
 */
async function settleDeadNodes(tx: Tx, aliveSince: Date, opts: { unowned?: boolean } = {}): Promise<string[]> {
  // The rows go first: a node whose beat commits meanwhile either keeps its row (the delete
  // sees the beat) and is alive for the release below, or finds its row gone at that beat and
  // records its devices again. Released first, a node beating in between would keep its row
  // and lose its devices without a sign.
  await tx.delete(nodes).where(lt(nodes.seenAt, aliveSince));
  const aliveNodes = () => tx.select({ id: nodes.id }).from(nodes).where(and(gte(nodes.seenAt, aliveSince), isNull(nodes.leftAt)));
  const alive = (await aliveNodes()).map((n) => n.id);
  // Which nodes are alive is read again by the statement that releases devices, not taken
  // from the list above: a node that started since is alive by then.
  await releaseDevicesOfDeadNodes(tx, aliveNodes(), opts);
  return alive;
}
