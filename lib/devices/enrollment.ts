import { timingSafeEqual } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { preparedOn, type DbOrTx } from "../../db/client";
import { z } from "zod";
import { withTransaction, type Ctx } from "../../db/transaction";
import { devices, orgSettings, type Device } from "../../db/schema";
import { randomCode, sha256 } from "../crypto";
import { ConflictError, DomainError } from "../errors";
import { publish } from "../events";
import { parse } from "../validation";
import { createDevice, deviceNameSchema } from "./devices";

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

/** Every connect of every agent asks this: prepared once per handle. */
const deviceById = preparedOn((h: DbOrTx) => h.select().from(devices).where(eq(devices.id, sql.placeholder("id"))).limit(1).prepare());

/** Checks an agent's credentials; the answer is the device, or exactly why not. */
export async function authenticateDevice({ db }: Ctx, raw: unknown): Promise<{ ok: true; device: Device } | { ok: false; reason: AgentRefusal }> {
  const parsed = agentHandshakeSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: "unauthorized" };
  const [device] = await deviceById(db).execute({ id: parsed.data.device_id });
  if (!device) return { ok: false, reason: "unauthorized" };
  // The token first: only its holder may learn what became of the device.
  const given = Buffer.from(sha256(parsed.data.device_token));
  if (!device.tokenHash || !timingSafeEqual(given, Buffer.from(device.tokenHash))) return { ok: false, reason: "unauthorized" };
  if (device.deletedAt) return { ok: false, reason: "deleted" };
  if (device.status === "PENDING") return { ok: false, reason: "pending_approval" };
  if (device.status === "DISABLED") return { ok: false, reason: "disabled" };
  return { ok: true, device };
}
