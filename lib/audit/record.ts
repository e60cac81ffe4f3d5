import { eq, type SQL } from "drizzle-orm";
import type { DbOrTx, Tx } from "../../db/client";
import { stepOf, type BatchStep } from "../../db/batch";
import { auditEvents, member, user } from "../../db/schema";
import type { AuditAction, AuditTarget } from "../../rules/audit";
import type { Actor } from "../actor";
import type { AuditRecorded } from "../events";

// The one way a row reaches the audit trail. Each verb that changes something for a person or
// a token records it here, on the transaction that makes the change: the row exists if and
// only if the change does. The returned event is published after the commit, like the verb's
// own events (the audit page is live).

export type AuditEntry = {
  action: AuditAction;
  target?: { type: AuditTarget; id: string; label?: string | null };
  /** What else an auditor needs (codes, counts, the before and after); never a list of 10,000 rows. */
  detail?: Record<string, unknown> | SQL;
};

/** Who a row names as the actor: "user:<id>" or "token:<id>". */
const actorOf = (actor: Actor) => actor.principal ?? (actor.userId ? `user:${actor.userId}` : null);

function rowOf(actor: Actor, entry: AuditEntry, at: Date) {
  return {
    organizationId: actor.organizationId,
    at,
    actor: actorOf(actor),
    actorLabel: actor.label,
    action: entry.action,
    targetType: entry.target?.type ?? null,
    targetId: entry.target?.id ?? null,
    targetLabel: entry.target?.label ?? null,
    detail: entry.detail ?? null,
    address: actor.address ?? null,
  };
}

const recorded = (organizationId: string | null): AuditRecorded[] => (organizationId ? [{ kind: "audit.recorded", organizationId }] : []);

/** Records what `actor` did, in the transaction `tx` that does it. */
export async function recordAudit(tx: Tx, actor: Actor, entry: AuditEntry, at = new Date()): Promise<AuditRecorded[]> {
  await tx.insert(auditEvents).values(rowOf(actor, entry, at));
  return recorded(actor.organizationId);
}

/** The same row as a step of a batch (db/batch.ts), for verbs that write as one. */
export function auditStep(h: DbOrTx, actor: Actor, entry: AuditEntry, at = new Date()): BatchStep {
  return stepOf(h.insert(auditEvents).values(rowOf(actor, entry, at)));
}

export const auditEventOf = (actor: Actor): AuditRecorded[] => recorded(actor.organizationId);

/**
 * A sign-in, successful or not: recorded in every organization the person belongs to, so each
 * one's admins see who came in through their door (and, once, with no organization for an
 * email no one has here). In a transaction of its own: the session itself is better-auth's
 * write, made before.
 */
export async function recordSignIn(tx: Tx, input: { email: string; ok: boolean; address: string }, at = new Date()): Promise<AuditRecorded[]> {
  const email = input.email.trim().toLowerCase().slice(0, 254);
  const rows = await tx
    .select({ userId: user.id, organizationId: member.organizationId })
    .from(user)
    .leftJoin(member, eq(member.userId, user.id))
    .where(eq(user.email, email));
  const action: AuditAction = input.ok ? "auth.sign_in" : "auth.sign_in_failed";
  const orgs = rows.length ? rows.map((r) => r.organizationId) : [null];
  const userId = rows[0]?.userId ?? null;
  await tx.insert(auditEvents).values(
    orgs.map((organizationId) => ({
      organizationId,
      at,
      actor: userId ? `user:${userId}` : null,
      actorLabel: email,
      action,
      targetType: userId ? ("user" as const) : null,
      targetId: userId,
      targetLabel: email,
      detail: null,
      address: input.address,
    })),
  );
  return orgs.flatMap(recorded);
}
