import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { TASK_TYPES } from "../../rules/tasks";
import { BadFileError, writeFileAtomic } from "../server/files";

/** What the server signs for each dispatch; the agent trusts only this. */
export const envelopeSchema = z.object({
  code: z.string(),
  type: z.enum(TASK_TYPES),
  payload: z.record(z.string(), z.unknown()).nullable(),
  device_id: z.string(),
  exp: z.number().int(),
  seq: z.number().int().positive(),
});
export type Envelope = z.infer<typeof envelopeSchema>;

/** The `task` event as it travels to the agent. */
export const taskMessageSchema = z.object({
  code: z.string(),
  type: z.enum(TASK_TYPES),
  payload: z.record(z.string(), z.unknown()).nullable(),
  expires_at: z.string(),
  seq: z.number().int().positive(),
  envelope: z.string(),
  signature: z.string(),
});
export type TaskMessage = z.infer<typeof taskMessageSchema>;

export function signEnvelope(envelope: Envelope, privateKey: KeyObject): { envelope: string; signature: string } {
  const text = Buffer.from(JSON.stringify(envelope)).toString("base64url");
  return { envelope: text, signature: sign(null, Buffer.from(text), privateKey).toString("base64url") };
}

export type Verdict = { ok: true; envelope: Envelope } | { ok: false; reason: string };

/**
 * The agent's checks of a `task` message: signature by the pinned key, envelope matching
 * the plain fields and this device, not expired, sequence strictly increasing.
 */
export function verifyTaskMessage(msg: unknown, opts: { publicKey: KeyObject; deviceId: string; lastSeq: number; now?: number }): Verdict {
  const parsed = taskMessageSchema.safeParse(msg);
  if (!parsed.success) return { ok: false, reason: "malformed task message" };
  const m = parsed.data;
  let good = false;
  try {
    good = verify(null, Buffer.from(m.envelope), opts.publicKey, Buffer.from(m.signature, "base64url"));
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: "bad signature" };
  let env: Envelope;
  try {
    env = envelopeSchema.parse(JSON.parse(Buffer.from(m.envelope, "base64url").toString("utf8")));
  } catch {
    return { ok: false, reason: "malformed envelope" };
  }
  if (env.device_id !== opts.deviceId) return { ok: false, reason: "envelope is for another device" };
  const plainExp = Math.floor(Date.parse(m.expires_at) / 1000);
  if (env.code !== m.code || env.type !== m.type || env.seq !== m.seq || env.exp !== plainExp || JSON.stringify(env.payload) !== JSON.stringify(m.payload)) {
    return { ok: false, reason: "envelope does not match the message" };
  }
  if (env.exp * 1000 <= (opts.now ?? Date.now())) return { ok: false, reason: "task expired" };
  if (env.seq <= opts.lastSeq) return { ok: false, reason: `replayed sequence number ${env.seq}` };
  return { ok: true, envelope: env };
}

/**
 * The server's signing key: generated into the data folder on first start, then reused.
 * Agents pin its public half at enrollment, so a file that is present but not an Ed25519
 * private key stops start-up with its name rather than silently becoming a new key.
 */
export function loadOrCreateServerKey(file: string): { privateKey: KeyObject; publicKeyPem: string } {
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync("ed25519");
    writeFileAtomic(file, privateKey.export({ type: "pkcs8", format: "pem" }), { exclusive: true });
  }
  const fix = "Delete it to have a new key generated at the next start; every agent must then pin the new key (enroll again).";
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(file));
  } catch {
    throw new BadFileError(file, "is not a readable PEM private key", fix);
  }
  if (privateKey.asymmetricKeyType !== "ed25519") throw new BadFileError(file, `holds an ${privateKey.asymmetricKeyType} key, not Ed25519`, fix);
  const publicKeyPem = createPublicKey(privateKey).export({ type: "spki", format: "pem" }).toString();
  return { privateKey, publicKeyPem };
}
