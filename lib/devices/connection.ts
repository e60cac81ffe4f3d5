import { and, eq, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import type { Tx } from "../../db/client";
import { withTransaction, type Ctx } from "../../db/transaction";
import { devices } from "../../db/schema";
import { parse } from "../validation";
import { agentVersionSchema } from "./enrollment";

// What an enrolled agent's connection keeps on its device's row: whether it is online, its
// last heartbeat and version, and the dispatch sequence numbers it has been sent.

/** Records a live connection (and the version the agent reports). */
export async function markOnline(ctx: Ctx, deviceId: string, version?: string): Promise<void> {
  await withTransaction(ctx, async (tx) => {
    await tx
      .update(devices)
      .set({ online: true, lastHeartbeatAt: new Date(), ...(version ? { agentVersion: version } : {}) })
      .where(and(eq(devices.id, deviceId), isNull(devices.deletedAt)));
  });
}

export async function markOffline(ctx: Ctx, deviceId: string): Promise<void> {
  await withTransaction(ctx, async (tx) => {
    await tx.update(devices).set({ online: false }).where(eq(devices.id, deviceId));
  });
}

/** At start nothing is connected yet, whatever the file says from before a crash. */
export async function markAllOffline(ctx: Ctx): Promise<void> {
  await withTransaction(ctx, async (tx) => {
    await tx.update(devices).set({ online: false }).where(eq(devices.online, true));
  });
}

export const heartbeatSchema = z
  .object({ version: agentVersionSchema, uptime_seconds: z.number().int().min(0).max(10 * 365 * 86400).optional() })
  .strict();

export async function recordHeartbeat(ctx: Ctx, deviceId: string, raw: unknown): Promise<void> {
  const hb = parse(heartbeatSchema, raw);
  await withTransaction(ctx, async (tx) => {
    await tx.update(devices).set({ lastHeartbeatAt: new Date(), agentVersion: hb.version }).where(eq(devices.id, deviceId));
  });
}

const reserveStatements = new WeakMap<Tx, ReturnType<typeof prepareReserve>>();
function prepareReserve(tx: Tx) {
  return tx
    .update(devices)
    .set({ lastSeq: sql`${devices.lastSeq} + ${sql.placeholder("count")}` })
    .where(eq(devices.id, sql.placeholder("deviceId")))
    .returning({ lastSeq: devices.lastSeq })
    .prepare();
}

/**
 * Reserves `count` consecutive sequence numbers for a device, a step of the caller's
 * transaction; returns the first.
 */
export function reserveSeq(tx: Tx, deviceId: string, count: number): number {
  // Prepared once per connection: the dispatcher calls this for every device of a batch.
  let stmt = reserveStatements.get(tx);
  if (!stmt) reserveStatements.set(tx, (stmt = prepareReserve(tx)));
  const row = stmt.get({ deviceId, count });
  return row!.lastSeq - count + 1;
}
