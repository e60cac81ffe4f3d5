import { timingSafeEqual } from "node:crypto";
import { and, eq, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "../../db/client";
import { devices, orgSettings, type Device } from "../../db/schema";
import { randomCode } from "../codes";
import { ConflictError, DomainError } from "../errors";
import { publish } from "../events";
import { sha256 } from "../orgs/orgs";
import { parse } from "../validation";
import { createDevice, deviceNameSchema } from "./devices";

export const agentVersionSchema = z
  .string()
  .trim()
  .min(1, "Version is required")
  .max(32, "Version is at most 32 characters")
  .regex(/^[0-9A-Za-z._+-]+$/, "Version is letters, digits, dots and dashes");

export const enrollSchema = z
  .object({
    registration_token: z.string().min(1, "registration_token is required").max(100),
    name: deviceNameSchema,
    version: agentVersionSchema,
  })
  .strict();

export const NAME_TAKEN = "That name is taken in this organization; enroll under another name";

/**
 * Enrolls a device with its organization's registration token. The device token is
 * returned once; only its hash is kept. PENDING until approved, unless the organization
 * auto-approves.
 */
export function enrollDevice(db: Db, raw: unknown) {
  const input = parse(enrollSchema, raw);
  const deviceToken = `dev_${randomCode(40)}`;
  const device = db.transaction((tx) => {
    const org = tx.select().from(orgSettings).where(eq(orgSettings.registrationToken, input.registration_token)).get();
    if (!org) throw new DomainError("unauthorized", "Unknown registration token");
    try {
      return createDevice(tx, {
        organizationId: org.organizationId,
        name: input.name,
        status: org.autoApprove ? "ENABLED" : "PENDING",
        agentVersion: input.version,
        tokenHash: sha256(deviceToken),
      });
    } catch (e) {
      // Whoever holds a registration token may learn that a name is taken, nothing more
      // about the organization's devices.
      if (e instanceof ConflictError) throw new ConflictError(NAME_TAKEN);
      throw e;
    }
  });
  publish([{ kind: "device.changed", organizationId: device.organizationId, deviceId: device.id, change: "enrolled" }]);
  return { deviceId: device.id, deviceToken, status: device.status };
}

export const AGENT_REFUSALS = ["unauthorized", "pending_approval", "disabled", "deleted"] as const;
export type AgentRefusal = (typeof AGENT_REFUSALS)[number];

export const agentHandshakeSchema = z.object({
  device_id: z.string().uuid(),
  device_token: z.string().min(1).max(100),
  // A malformed version is ignored, not a reason to refuse: refusals mean "stop trying".
  version: agentVersionSchema.optional().catch(undefined),
});

/** Checks an agent's credentials; the answer is the device, or exactly why not. */
export function authenticateDevice(db: Db, raw: unknown): { ok: true; device: Device } | { ok: false; reason: AgentRefusal } {
  const parsed = agentHandshakeSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: "unauthorized" };
  const device = db.select().from(devices).where(eq(devices.id, parsed.data.device_id)).get();
  if (!device) return { ok: false, reason: "unauthorized" };
  // The token first: only its holder may learn what became of the device.
  const given = Buffer.from(sha256(parsed.data.device_token));
  if (!device.tokenHash || !timingSafeEqual(given, Buffer.from(device.tokenHash))) return { ok: false, reason: "unauthorized" };
  if (device.deletedAt) return { ok: false, reason: "deleted" };
  if (device.status === "PENDING") return { ok: false, reason: "pending_approval" };
  if (device.status === "DISABLED") return { ok: false, reason: "disabled" };
  return { ok: true, device };
}

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
