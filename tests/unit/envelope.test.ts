// Protocol 2's batch signatures (lib/agents/envelope.ts): the Merkle tree of RFC 9162 over a
// batch's envelopes, one signature of its root, and each envelope's inclusion proof.
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { describe, expect, test } from "vitest";
import { envelopeText, protocolSchema, signBatch, signEnvelope, verifyTaskMessage, type Envelope } from "../../lib/agents/envelope";

const { privateKey } = generateKeyPairSync("ed25519");
const publicKey = createPublicKey(privateKey);
const exp = Math.floor(Date.now() / 1000) + 3600;
const envelopes = (n: number): Envelope[] => Array.from({ length: n }, (_, i) => ({ code: `T${i}`, type: "SYNC", payload: null, device_id: `device-${i}`, exp, seq: i + 1 }));
const messageOf = (e: Envelope, envelope: string, signature: string, proof?: { index: number; size: number; path: string[] }) => ({
  code: e.code,
  type: e.type,
  payload: e.payload,
  expires_at: new Date(e.exp * 1000).toISOString(),
  seq: e.seq,
  envelope,
  signature,
  ...(proof ? { proof } : {}),
});
const check = (msg: unknown, deviceId: string) => verifyTaskMessage(msg, { publicKey, deviceId, lastSeq: 0 });

describe("batch signatures", () => {
  test("every envelope of batches of 1 to 40 verifies with its proof, and with no other", () => {
    for (let n = 1; n <= 40; n++) {
      const list = envelopes(n);
      const texts = list.map(envelopeText);
      const { signature, proofs } = signBatch(texts, privateKey);
      expect(proofs.map((p) => p.size)).toEqual(list.map(() => n));
      // A tree of n leaves is ceil(log2 n) levels deep at most.
      for (const p of proofs) expect(p.path.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
      list.forEach((e, i) => {
        expect(check(messageOf(e, texts[i], signature, proofs[i]), e.device_id)).toMatchObject({ ok: true, envelope: e });
        for (let j = 0; j < n; j++) if (j !== i) expect(check(messageOf(e, texts[i], signature, proofs[j]), e.device_id)).toEqual({ ok: false, reason: "bad signature" });
      });
    }
  });

  test("a proof whose size the path does not fit, a missing or extra step, or an index past the end fails", () => {
    const list = envelopes(5);
    const texts = list.map(envelopeText);
    const { signature, proofs } = signBatch(texts, privateKey);
    const p = proofs[2];
    for (const proof of [
      { ...p, size: 4 },
      { ...p, size: 3 },
      { ...p, path: p.path.slice(1) },
      { ...p, path: [...p.path, p.path[0]] },
      { ...p, index: 5 },
    ]) {
      expect(check(messageOf(list[2], texts[2], signature, proof), list[2].device_id)).toEqual({ ok: false, reason: "bad signature" });
    }
  });

  test("protocol 1 and 2 signatures do not pass for each other", () => {
    const [e] = envelopes(1);
    const single = signEnvelope(e, privateKey);
    const batch = signBatch([single.envelope], privateKey);
    expect(check(messageOf(e, single.envelope, single.signature), e.device_id).ok).toBe(true);
    expect(check(messageOf(e, single.envelope, batch.signature, batch.proofs[0]), e.device_id).ok).toBe(true);
    expect(check(messageOf(e, single.envelope, single.signature, batch.proofs[0]), e.device_id)).toEqual({ ok: false, reason: "bad signature" });
    expect(check(messageOf(e, single.envelope, batch.signature), e.device_id)).toEqual({ ok: false, reason: "bad signature" });
  });

  test("the protocol both speak: what the agent announced, at most 2; nothing or garbage is 1", () => {
    expect([undefined, null, "2", 0, -1, 1.5, {}].map((v) => protocolSchema.parse(v))).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect([1, 2, 3, 99].map((v) => protocolSchema.parse(v))).toEqual([1, 2, 2, 2]);
  });
});
