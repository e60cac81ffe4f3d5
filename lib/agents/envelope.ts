import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
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

/**
 * The versions of the `task` message (docs/agent-protocol.md §3). 1: each envelope carries
 * its own signature. 2: one signature covers a batch of envelopes — the root of their Merkle
 * tree — and each envelope carries its inclusion proof, so that signing costs one Ed25519
 * signature per batch instead of one per task. An agent announces the latest it speaks.
 */
export const LATEST_PROTOCOL = 2;
export type Protocol = 1 | 2;
/** The version both sides speak: what the agent announced (nothing or garbage: 1), at most ours. */
export const protocolSchema = z
  .number()
  .int()
  .min(1)
  .catch(1)
  .transform((p) => Math.min(p, LATEST_PROTOCOL) as Protocol);

const hashSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
/** Where an envelope sits in its batch (RFC 9162 §2.1.3): leaf index, tree size, sibling hashes leaf to root. */
export const proofSchema = z.object({
  index: z.number().int().min(0),
  size: z.number().int().min(1),
  path: z.array(hashSchema).max(64),
});
export type Proof = z.infer<typeof proofSchema>;

/** The `task` event as it travels to the agent; `proof` only in protocol 2. */
export const taskMessageSchema = z.object({
  code: z.string(),
  type: z.enum(TASK_TYPES),
  payload: z.record(z.string(), z.unknown()).nullable(),
  expires_at: z.string(),
  seq: z.number().int().positive(),
  envelope: z.string(),
  signature: z.string(),
  proof: proofSchema.optional(),
});
export type TaskMessage = z.infer<typeof taskMessageSchema>;

export const envelopeText = (envelope: Envelope) => Buffer.from(JSON.stringify(envelope)).toString("base64url");

/** Protocol 1: the signature of the envelope string itself. */
export const signText = (text: string, privateKey: KeyObject) => sign(null, Buffer.from(text), privateKey).toString("base64url");

export function signEnvelope(envelope: Envelope, privateKey: KeyObject): { envelope: string; signature: string } {
  const text = envelopeText(envelope);
  return { envelope: text, signature: signText(text, privateKey) };
}

// Protocol 2: the Merkle tree of RFC 9162 §2.1.1 over the envelope strings, SHA-256, leaves
// and interior nodes hashed apart. What is signed is the root behind a fixed label, which no
// envelope string (base64url only) can ever equal: a batch signature cannot pass for a
// protocol 1 signature, nor the reverse.
const BATCH_LABEL = Buffer.from("taskwire task batch v2\n");
const leafHash = (text: string) => createHash("sha256").update(Buffer.of(0)).update(text).digest();
const nodeHash = (left: Buffer, right: Buffer) => createHash("sha256").update(Buffer.of(1)).update(left).update(right).digest();
const signedRoot = (root: Buffer) => Buffer.concat([BATCH_LABEL, root]);

/** Protocol 2: one signature for the whole batch, and each envelope's inclusion proof. */
export function signBatch(texts: string[], privateKey: KeyObject): { signature: string; proofs: Proof[] } {
  if (!texts.length) return { signature: "", proofs: [] };
  const paths: Buffer[][] = texts.map(() => []);
  // MTH of RFC 9162: split at the largest power of two below the size; each leaf's path
  // gathers the sibling subtree at every level, deepest first.
  const tree = (lo: number, hi: number): Buffer => {
    if (hi - lo === 1) return leafHash(texts[lo]);
    let k = 1;
    while (k * 2 < hi - lo) k *= 2;
    const left = tree(lo, lo + k);
    const right = tree(lo + k, hi);
    for (let i = lo; i < lo + k; i++) paths[i].push(right);
    for (let i = lo + k; i < hi; i++) paths[i].push(left);
    return nodeHash(left, right);
  };
  const root = tree(0, texts.length);
  return {
    signature: sign(null, signedRoot(root), privateKey).toString("base64url"),
    proofs: paths.map((path, index) => ({ index, size: texts.length, path: path.map((h) => h.toString("base64url")) })),
  };
}

/** The root an inclusion proof leads to from this envelope string (RFC 9162 §2.1.3.2), or null if it is not well-formed. */
function rootOf(text: string, proof: Proof): Buffer | null {
  if (proof.index >= proof.size) return null;
  let fn = proof.index;
  let sn = proof.size - 1;
  let r = leafHash(text);
  for (const p of proof.path) {
    if (sn === 0) return null;
    const sibling = Buffer.from(p, "base64url");
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(sibling, r);
      // The right edge of an unbalanced tree: climb to where this subtree is a left child.
      while (fn % 2 === 0 && fn !== 0) {
        fn >>>= 1;
        sn >>>= 1;
      }
    } else {
      r = nodeHash(r, sibling);
    }
    fn >>>= 1;
    sn >>>= 1;
  }
  return sn === 0 ? r : null;
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
    const signed = m.proof ? rootOf(m.envelope, m.proof) : Buffer.from(m.envelope);
    good = signed !== null && verify(null, m.proof ? signedRoot(signed) : signed, opts.publicKey, Buffer.from(m.signature, "base64url"));
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

/** A new Ed25519 signing key, as PKCS#8 PEM. */
export const newServerKeyPem = (): string => generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();

export type ServerKey = { privateKey: KeyObject; publicKeyPem: string };

/**
 * The server's signing key: generated into the data folder on first start, then reused.
 * Agents pin its public half at enrollment, so a file that is present but not an Ed25519
 * private key stops start-up with its name rather than silently becoming a new key.
 */
export function loadOrCreateServerKey(file: string): ServerKey {
  if (!existsSync(file)) writeFileAtomic(file, newServerKeyPem(), { exclusive: true });
  return parseServerKey(readFileSync(file), (problem) => new BadFileError(file, problem, "Delete it to have a new key generated at the next start; every agent must then pin the new key (enroll again)."));
}

/** The key from PEM text, or `bad(problem)` thrown: not a private key, or not Ed25519. */
export function parseServerKey(pem: string | Buffer, bad: (problem: string) => Error): ServerKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw bad("is not a readable PEM private key");
  }
  if (privateKey.asymmetricKeyType !== "ed25519") throw bad(`holds an ${privateKey.asymmetricKeyType} key, not Ed25519`);
  const publicKeyPem = createPublicKey(privateKey).export({ type: "spki", format: "pem" }).toString();
  return { privateKey, publicKeyPem };
}
