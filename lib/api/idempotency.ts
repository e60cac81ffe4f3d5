import { createHash } from "node:crypto";
import type { Db } from "@/db/client";
import type { Actor } from "@/lib/actor";
import type { Role } from "@/rules/roles";
import { ValidationError } from "@/lib/errors";
import { idempotencyKeySchema, KEY_MESSAGE, runOnce, type IdempotencyClaim, type Remember } from "@/lib/idempotency";
import { reply } from "./http";

// The Idempotency-Key header on the API's creating requests (POST /tasks, POST
// /tasks/{code}/rerun); the rules themselves are in lib/idempotency.ts.

/**
 * The key a request carries, with the fingerprint of the request it names: the method, the
 * path and the body exactly as received (a client's retry sends the same bytes). No header →
 * null; a malformed key → 400 before anything runs.
 */
export function idempotencyClaim(req: Request, body: string): IdempotencyClaim | null {
  const raw = req.headers.get("idempotency-key");
  if (raw === null) return null;
  // The draft spells the key as a structured-field string ("…"); a bare key is taken too.
  const key = /^"(?:[^"\\]|\\["\\])*"$/.test(raw) ? raw.slice(1, -1).replace(/\\(["\\])/g, "$1") : raw;
  if (!idempotencyKeySchema.safeParse(key).success) throw new ValidationError(KEY_MESSAGE);
  const fingerprint = createHash("sha256").update(`${req.method} ${new URL(req.url).pathname}\n`).update(body).digest("hex");
  return { key, fingerprint };
}

/**
 * Answers a creating request at most once per key: the verb's result becomes `status` and
 * `body(result)`, stored with the key inside the verb's transaction; a repeat gets the stored
 * answer back, marked `Idempotent-Replayed: true`.
 */
export async function answerOnce<R>(
  ctx: { db: Db; actor: Actor; needs: Role; claim: IdempotencyClaim | null },
  run: (remember?: Remember<R>) => Promise<R>,
  status: number,
  body: (result: R) => unknown,
) {
  const answer = await runOnce({ db: ctx.db, actor: ctx.actor }, { needs: ctx.needs, claim: ctx.claim }, run, (r) => ({ status, body: body(r) }));
  return reply(answer.status, answer.body, answer.replayed ? { "idempotent-replayed": "true" } : undefined);
}
