import { and, eq, isNotNull, isNull, ne, not, notInArray, or, sql, type SQLWrapper } from "drizzle-orm";
import { anyOf, changedRows, jsonRows, lockInKeyOrder, unlockedOnly } from "../../db/portable";
import { z } from "zod";
import type { Tx } from "../../db/client";
import { withTransaction, type Ctx } from "../../db/transaction";
import { devices } from "../../db/schema";
import { parse } from "../validation";
import { agentVersionSchema } from "./enrollment";
import { takesTasks } from "../tasks/targets";

// What an enrolled agent's connection keeps on its device's row: whether it is online, its
// last heartbeat and version, and the dispatch sequence numbers reserved for it.

/**
 * Devices whose agents' connections came up on node `nodeId`, and the versions they
 * reported: one transaction for the lot. The device now belongs to that node. Returns, with
 * `elsewhere`, those of them that belonged to another node until now (whose connections
 * there are to be closed), and those that may no longer connect (`refused`: disabled or
 * deleted since their handshake was read, the news of it come before their socket could
 * hear it), which are left as they are and whose connections here are to be closed.
 *
 * Each device marked online gets SEQ_BLOCK sequence numbers reserved in the same statement:
 * `seqs` maps it to the last of them (the block is the SEQ_BLOCK numbers up to it).
 */
export async function markOnline(
  ctx: Ctx,
  nodeId: string,
  agents: { deviceId: string; version?: string }[],
  opts: { elsewhere?: boolean } = {},
): Promise<{ elsewhere: string[]; refused: string[]; seqs: Map<string, number> }> {
  if (!agents.length) return { elsewhere: [], refused: [], seqs: new Map() };
  const at = new Date();
  return withTransaction(ctx, async (tx) => {
    const theirs = anyOf(devices.id, [...new Set(agents.map((a) => a.deviceId))]);
    // Locked before the read: another node's connect of the same device, at the same moment,
    // either committed before (and is read here) or reads this one's after; so does a disable.
    await lockInKeyOrder(tx, devices, devices.id, theirs);
    const mayConnect = takesTasks();
    const elsewhere = opts.elsewhere
      ? (await tx.select({ id: devices.id }).from(devices).where(and(theirs, mayConnect, isNotNull(devices.nodeId), ne(devices.nodeId, nodeId)))).map((d) => d.id)
      : [];
    // What the updates leave out is what may no longer connect.
    const seqs = new Map<string, number>();
    for (const [version, ids] of byVersion(agents)) {
      const rows = await tx
        .update(devices)
        .set({ online: true, nodeId, lastHeartbeatAt: at, lastSeq: sql`${devices.lastSeq} + ${SEQ_BLOCK}`, ...(version ? { agentVersion: version } : {}) })
        .where(and(anyOf(devices.id, ids), mayConnect))
        .returning({ id: devices.id, lastSeq: devices.lastSeq });
      for (const r of rows) seqs.set(r.id, r.lastSeq);
    }
    return { elsewhere, refused: [...new Set(agents.map((a) => a.deviceId))].filter((id) => !seqs.has(id)), seqs };
  });
}

/**
 * Devices whose agents' last connections to node `nodeId` closed: one transaction for the lot.
 * A device that came back through another node meanwhile belongs to that node and stays online.
 */
export async function markOffline(ctx: Ctx, nodeId: string, deviceIds: string[]): Promise<void> {
  if (!deviceIds.length) return;
  await withTransaction(ctx, async (tx) => {
    const mine = and(anyOf(devices.id, [...new Set(deviceIds)]), eq(devices.nodeId, nodeId));
    await lockInKeyOrder(tx, devices, devices.id, mine);
    await tx.update(devices).set({ online: false, nodeId: null }).where(mine);
  });
}

/** The devices online through node `nodeId`, which is stopping: offline. A step of the caller's transaction. */
export async function releaseDevicesOf(tx: Tx, nodeId: string): Promise<void> {
  await lockInKeyOrder(tx, devices, devices.id, eq(devices.nodeId, nodeId));
  await tx.update(devices).set({ online: false, nodeId: null }).where(eq(devices.nodeId, nodeId));
}

/**
 * The devices online through a node not among `aliveNodes` (a query of their ids, read by each
 * statement here: a node that died, or a server before this one): offline. A step of the
 * caller's transaction.
 *
 * Every node runs it every few seconds, so it reads only the devices that have a node, through
 * their index (devices_node_idx): what it costs grows with the connected fleet, not with every
 * device ever enrolled (a scan of 110,000 devices held SQLite's one thread ~20 ms per beat).
 * `unowned` also takes offline those online without a node, which only rows from before nodes
 * were recorded can be: a start looks for them once.
 */
export async function releaseDevicesOfDeadNodes(tx: Tx, aliveNodes: SQLWrapper, opts: { unowned?: boolean } = {}): Promise<number> {
  const owned = and(isNotNull(devices.nodeId), notInArray(devices.nodeId, aliveNodes));
  const orphaned = and(eq(devices.online, true), opts.unowned ? or(isNull(devices.nodeId), owned) : owned);
  // A row another transaction holds is left for a later beat, not waited for: the holder may
  // be the dead node's own, kept open until PostgreSQL notices its connection is gone.
  return changedRows(await tx.update(devices).set({ online: false, nodeId: null }).where(unlockedOnly(tx, devices, devices.id, orphaned)));
}

/**
 * What node `nodeId`'s connections say, written over what the rows say; `connected`: the
 * devices with a connection there. Devices recorded online through it with no connection go
 * offline (their disconnect was not recorded: the database failed then); devices connected
 * there but recorded offline with no node (released while the node was taken for dead) are
 * its own again, and returned as `online`. Also returns the devices connected there that
 * another node has taken since (`elsewhere`: their connections there are the older ones), and
 * those that may no longer connect (`refused`: disabled or deleted, the news of it missed).
 */
export async function reassertPresence(ctx: Ctx, nodeId: string, connected: string[]): Promise<{ offline: number; online: string[]; elsewhere: string[]; refused: string[] }> {
  return withTransaction(ctx, async (tx) => {
    const here = anyOf(devices.id, [...new Set(connected)]);
    const gone = and(eq(devices.nodeId, nodeId), not(here));
    // Its agent connects to take tasks: only a device that may take them stays connected.
    const mayConnect = takesTasks();
    const released = and(here, isNull(devices.nodeId), mayConnect);
    await lockInKeyOrder(tx, devices, devices.id, or(gone, released));
    const offline = changedRows(await tx.update(devices).set({ online: false, nodeId: null }).where(gone));
    const online = await tx.update(devices).set({ online: true, nodeId }).where(released).returning({ id: devices.id });
    const elsewhere = await tx.select({ id: devices.id }).from(devices).where(and(here, isNotNull(devices.nodeId), ne(devices.nodeId, nodeId)));
    const refused = await tx.select({ id: devices.id }).from(devices).where(and(here, not(mayConnect)));
    return { offline, online: online.map((d) => d.id), elsewhere: elsewhere.map((d) => d.id), refused: refused.map((d) => d.id) };
  });
}

export const heartbeatSchema = z
  .object({ version: agentVersionSchema, uptime_seconds: z.number().int().min(0).max(10 * 365 * 86400).optional() })
  .strict();

/**
 * Heartbeats of several agents, one transaction for the lot; each answer is its own: an
 * invalid heartbeat gets its validation error and changes nothing.
 */
export async function recordHeartbeats(ctx: Ctx, beats: { deviceId: string; raw: unknown }[]): Promise<(Error | null)[]> {
  const answers: (Error | null)[] = [];
  const valid: { deviceId: string; version: string }[] = [];
  for (const b of beats) {
    try {
      valid.push({ deviceId: b.deviceId, version: parse(heartbeatSchema, b.raw).version });
      answers.push(null);
    } catch (e) {
      answers.push(e as Error);
    }
  }
  if (valid.length) {
    const at = new Date();
    // A heartbeat only moves a time forward, and the agent's next one repeats it: one whose
    // device is locked (a fan-out being issued to it) is dropped rather than waited for, and
    // on PostgreSQL the commit does not wait for the disk.
    await withTransaction(
      ctx,
      async (tx) => {
        for (const [version, ids] of byVersion(valid)) {
          await tx.update(devices).set({ lastHeartbeatAt: at, agentVersion: version }).where(unlockedOnly(tx, devices, devices.id, anyOf(devices.id, ids)));
        }
      },
      { commit: "lazy" },
    );
  }
  return answers;
}

/** Device ids grouped by the version their agents report (a fleet runs a handful of versions). */
function byVersion(agents: { deviceId: string; version?: string }[]): Map<string | undefined, string[]> {
  const groups = new Map<string | undefined, string[]>();
  for (const a of agents) {
    const ids = groups.get(a.version) ?? [];
    if (!ids.length) groups.set(a.version, ids);
    ids.push(a.deviceId);
  }
  return groups;
}

/**
 * Sequence numbers reserved for a device at a time: when its agent connects (markOnline), and
 * again whenever a node has used up its block (reserveSeqs). A dispatch takes its numbers from
 * the block its node holds, in memory, with no write on its way (lib/agents/dispatcher.ts).
 * The protocol needs a device's numbers to increase, not to be dense (docs/agent-protocol.md
 * §3): what a block leaves unused when its connection ends is never sent. DISPATCH_BATCH
 * (100) tasks to one device fit in one block.
 */
export const SEQ_BLOCK = 100;

/**
 * Reserves consecutive sequence numbers for several devices at once — `counts` maps each to
 * how many — as one statement, a step of the caller's transaction; returns each device's
 * first. One round trip for a dispatch batch, not one per device: on PostgreSQL each is a
 * wait on the network and on the event loop.
 */
export async function reserveSeqs(tx: Tx, counts: Map<string, number>): Promise<Map<string, number>> {
  if (!counts.size) return new Map();
  // One row cannot be taken out of order: the UPDATE locks it itself.
  if (counts.size > 1) await lockInKeyOrder(tx, devices, devices.id, anyOf(devices.id, [...counts.keys()]));
  const rows = await tx
    .update(devices)
    .set({ lastSeq: sql`${devices.lastSeq} + ${sql.identifier("added")}.${sql.identifier("n")}` })
    .from(jsonRows([...counts].map(([id, n]) => [id, Math.trunc(n)]), "added", { id: "text", n: "integer" }))
    .where(sql`${devices.id} = ${sql.identifier("added")}.${sql.identifier("id")}`)
    .returning({ id: devices.id, lastSeq: devices.lastSeq });
  return new Map(rows.map((r) => [r.id, r.lastSeq - counts.get(r.id)! + 1]));
}
