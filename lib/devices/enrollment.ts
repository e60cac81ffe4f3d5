import { timingSafeEqual } from "node:crypto";
import { eq, inArray } from "drizzle-orm";
import { z } from "zod";
import { withTransaction, type Ctx } from "../../db/transaction";
import { devices, orgSettings, type Device } from "../../db/schema";
import { randomCode, sha256 } from "../crypto";
import { ConflictError, DomainError } from "../errors";
import { publish } from "../events";
import { parse } from "../validation";
import { createDevice, deviceNameSchema } from "./devices";
import { deviceAllows } from "../../rules/devices";

// How an agent comes to hold a device token (enrollment with the registration token), and
// how it proves it holds one on every connection.

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
export async function enrollDevice(ctx: Ctx, raw: unknown) {
  const input = parse(enrollSchema, raw);
  const deviceToken = `dev_${randomCode(40)}`;
  const device = await withTransaction(ctx, async (tx) => {
    const [org] = await tx.select().from(orgSettings).where(eq(orgSettings.registrationToken, input.registration_token)).limit(1);
    if (!org) throw new DomainError("unauthorized", "Unknown registration token");
    try {
      return await createDevice({ db: tx }, {
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

export type AgentAuth = { ok: true; device: Device } | { ok: false; reason: AgentRefusal };

/**
 * Checks agents' credentials; each answer is the device, or exactly why not. Their devices
 * are read together, in one query per 500: a fleet that connects at once after a restart
 * asks this thousands of times a second, and on PostgreSQL a round trip each cost more than
 * the rest of a connect (docs/performance.md).
 */
export async function authenticateDevices({ db }: Ctx, raws: unknown[]): Promise<AgentAuth[]> {
  const handshakes = raws.map((raw) => agentHandshakeSchema.safeParse(raw).data);
  const ids = [...new Set(handshakes.flatMap((h) => (h ? [h.device_id] : [])))];
  const found = new Map<string, Device>();
  for (let i = 0; i < ids.length; i += 500) for (const d of await db.select().from(devices).where(inArray(devices.id, ids.slice(i, i + 500)))) found.set(d.id, d);
  return handshakes.map((h): AgentAuth => {
    const device = h && found.get(h.device_id);
    if (!h || !device) return { ok: false, reason: "unauthorized" };
    // The token first: only its holder may learn what became of the device.
    const given = Buffer.from(sha256(h.device_token));
    if (!device.tokenHash || !timingSafeEqual(given, Buffer.from(device.tokenHash))) return { ok: false, reason: "unauthorized" };
    if (device.deletedAt) return { ok: false, reason: "deleted" };
    // Its agent connects to take tasks: only a device that may take them is let in.
    if (!deviceAllows(device.status, "tasks")) return { ok: false, reason: device.status === "PENDING" ? "pending_approval" : "disabled" };
    return { ok: true, device };
  });
}
