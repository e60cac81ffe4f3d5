import { and, eq, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "../../db/client";
import { devices } from "../../db/schema";
import { parse } from "../validation";
import { agentVersionSchema } from "./enrollment";

// What an enrolled agent's connection keeps on its device's row: whether it is online, its
// last heartbeat and version, and the dispatch sequence numbers it has been sent.

/** Records a live connection (and the version the agent reports). */
export function markOnline(db: Db, deviceId: string, version?: string) {
  db.update(devices)
    .set({ online: true, lastHeartbeatAt: new Date(), ...(version ? { agentVersion: version } : {}) })
    .where(and(eq(devices.id, deviceId), isNull(devices.deletedAt)))
    .run();
}

export function markOffline(db: Db, deviceId: string) {
  db.update(devices).set({ online: false }).where(eq(devices.id, deviceId)).run();
}

/** At start nothing is connected yet, whatever the file says from before a crash. */
export function markAllOffline(db: Db) {
  db.update(devices).set({ online: false }).where(eq(devices.online, true)).run();
}

export const heartbeatSchema = z
  .object({ version: agentVersionSchema, uptime_seconds: z.number().int().min(0).max(10 * 365 * 86400).optional() })
  .strict();

export function recordHeartbeat(db: Db, deviceId: string, raw: unknown) {
  const hb = parse(heartbeatSchema, raw);
  db.update(devices).set({ lastHeartbeatAt: new Date(), agentVersion: hb.version }).where(eq(devices.id, deviceId)).run();
}

const reserveStatements = new WeakMap<Db, ReturnType<typeof prepareReserve>>();
function prepareReserve(db: Db) {
  return db
    .update(devices)
    .set({ lastSeq: sql`${devices.lastSeq} + ${sql.placeholder("count")}` })
    .where(eq(devices.id, sql.placeholder("deviceId")))
    .returning({ lastSeq: devices.lastSeq })
    .prepare();
}

/** Reserves `count` consecutive sequence numbers for a device; returns the first. */
export function reserveSeq(db: Db, deviceId: string, count: number): number {
  // Prepared once per connection: the dispatcher calls this for every device of a batch.
  let stmt = reserveStatements.get(db);
  if (!stmt) reserveStatements.set(db, (stmt = prepareReserve(db)));
  const row = stmt.get({ deviceId, count });
  return row!.lastSeq - count + 1;
}
