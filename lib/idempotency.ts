import { and, eq, lt, sql } from "drizzle-orm";
import { z } from "zod";
import { isBatchCheck, stepOf, type BatchStep } from "../db/batch";
import type { DbOrTx } from "../db/client";
import { idempotencyKeys } from "../db/schema";
import type { Role } from "../rules/roles";
import { requireRole, type Actor, type ActorCtx } from "./actor";
import { ConflictError, UnprocessableError, ValidationError } from "./errors";

// Idempotency keys (draft-ietf-httpapi-idempotency-key-header), for any creating request:
// the caller names a request with a key; the same key and the same request from the same
// caller replay the first answer instead of creating again, the same key with another
// request is refused. The answer is written by the verb inside the transaction that creates
// (see `remember` in issueFanout), so a committed creation always has its key and a request
// that failed leaves none: retrying it simply runs it.
//
// A key is written only with its committed answer, so the lookup before the verb sees either
// no key or a committed answer. A duplicate that passed the lookup while the first request
// was still waiting for, or inside, its transaction (or a writer in another process that
// committed the same key meanwhile) collides on the insert: that rolls its creation back and
// answers 409, "in progress"; a retry then replays the stored answer.

/** How long a key is remembered; after that the same key is a new request. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3600 * 1000;
/** Expired keys removed per new key: a bounded, index-driven clean-up that never piles up. */
const PURGE_BATCH = 100;

export const KEY_MESSAGE = "An Idempotency-Key is 1 to 255 visible ASCII characters";
export const idempotencyKeySchema = z.string({ error: () => KEY_MESSAGE }).regex(/^[\x21-\x7e]{1,255}$/, KEY_MESSAGE);

export const MISMATCH_MESSAGE = "This Idempotency-Key was used with another request";
export const IN_PROGRESS_MESSAGE = "A request with this Idempotency-Key is in progress";

/** A caller's key and the fingerprint of the request it names (what "the same request" means). */
export type IdempotencyClaim = { key: string; fingerprint: string };
/** What is stored and replayed: a status and a JSON body, as the caller's adapter answers. */
export type StoredAnswer = { status: number; body: unknown };
/** The statements that store a result's answer, written in the creating transaction. */
export type Remember<R> = (result: R) => BatchStep[];

/** Keys belong to the caller: a user's session and each of their tokens are separate callers. */
function principalOf(actor: Actor): string {
  if (actor.principal) return actor.principal;
  if (actor.userId) return `user:${actor.userId}`;
  throw new ValidationError("This caller cannot use an Idempotency-Key");
}

const where = (actor: Actor, key: string) =>
  and(eq(idempotencyKeys.organizationId, actor.organizationId), eq(idempotencyKeys.principal, principalOf(actor)), eq(idempotencyKeys.key, key));

/** The answer stored for this key, null if none (or expired); another request's key → 422. */
export async function storedAnswer({ db, actor }: ActorCtx, claim: IdempotencyClaim, now = new Date()): Promise<StoredAnswer | null> {
  const [row] = await db.select().from(idempotencyKeys).where(where(actor, claim.key)).limit(1);
  if (!row || row.createdAt.getTime() <= now.getTime() - IDEMPOTENCY_KEY_TTL_MS) return null;
  if (row.requestHash !== claim.fingerprint) throw new UnprocessableError(MISMATCH_MESSAGE);
  return { status: row.status, body: JSON.parse(row.response) as unknown };
}

/** A key taken meanwhile by another request (the batch check of rememberAnswer). */
const KEY_TAKEN = "idempotency-key-taken";

/** The statements that write a key's answer inside the creating transaction (a batch, db/batch.ts). */
function rememberAnswer(h: DbOrTx, actor: Actor, claim: IdempotencyClaim, answer: StoredAnswer, now = new Date()): BatchStep[] {
  const expired = now.getTime() - IDEMPOTENCY_KEY_TTL_MS;
  const row = { organizationId: actor.organizationId, principal: principalOf(actor), key: claim.key, requestHash: claim.fingerprint, status: answer.status, response: JSON.stringify(answer.body), createdAt: now };
  return [
    stepOf(
      sql`delete from ${idempotencyKeys} where (${idempotencyKeys.organizationId}, ${idempotencyKeys.principal}, ${idempotencyKeys.key}) in (select ${idempotencyKeys.organizationId}, ${idempotencyKeys.principal}, ${idempotencyKeys.key} from ${idempotencyKeys} where ${idempotencyKeys.createdAt} <= ${expired} limit ${PURGE_BATCH})`,
    ),
    {
      ...stepOf(
        h
          .insert(idempotencyKeys)
          .values(row)
          .onConflictDoUpdate({
            target: [idempotencyKeys.organizationId, idempotencyKeys.principal, idempotencyKeys.key],
            set: { requestHash: row.requestHash, status: row.status, response: row.response, createdAt: row.createdAt },
            // Only an expired key is taken over; a live one belongs to a request that got there first.
            setWhere: lt(idempotencyKeys.createdAt, new Date(expired + 1)),
          }),
      ),
      expectChanges: 1,
      failure: KEY_TAKEN,
    },
  ];
}

/**
 * Runs a creating verb at most once per key: with no claim, it just runs; with one, a stored
 * answer is replayed (after the same role check the verb would make), else the verb runs and
 * `answer` of its result is stored inside its transaction through the `remember` hook.
 */
export async function runOnce<R>(
  ctx: ActorCtx,
  opts: { needs: Role; claim: IdempotencyClaim | null; now?: Date },
  run: (remember?: Remember<R>) => Promise<R>,
  answer: (result: R) => StoredAnswer,
): Promise<StoredAnswer & { replayed: boolean }> {
  const { actor } = ctx;
  const { claim, now = new Date() } = opts;
  if (!claim) return { ...answer(await run()), replayed: false };
  requireRole(actor, opts.needs);
  const prior = await storedAnswer(ctx, claim, now);
  if (prior) return { ...prior, replayed: true };
  let stored: StoredAnswer | undefined;
  try {
    const result = await run((r) => rememberAnswer(ctx.db, actor, claim, (stored = answer(r)), now));
    return { ...(stored ?? answer(result)), replayed: false };
  } catch (e) {
    if (!isBatchCheck(e, KEY_TAKEN)) throw e;
    // Another request stored this key first, and this one's work was rolled back. On
    // PostgreSQL the two ran side by side and this one waited for the other's commit: its
    // answer is the one to give. A key taken but not (yet) answered is still in progress.
    const taken = await storedAnswer(ctx, claim, now);
    if (taken) return { ...taken, replayed: true };
    throw new ConflictError(IN_PROGRESS_MESSAGE);
  }
}
