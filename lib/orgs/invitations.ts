import { randomUUID } from "node:crypto";
import { and, asc, eq, gt } from "drizzle-orm";
import { z } from "zod";
import { withTransaction, type Ctx } from "../../db/transaction";
import { lockRows } from "../../db/portable";
import { invitation, member, organization, user } from "../../db/schema";
import { requireRole, type Actor, type ActorCtx } from "../actor";
import { recordAudit } from "../audit/record";
import { publish } from "../events";
import { emailSchema, findUserByEmail, insertUser, prepareUser, type NewUser } from "../auth/users";
import { randomCode, sha256 } from "../crypto";
import { ConflictError, NotFoundError, UnprocessableError } from "../errors";
import { parse } from "../validation";
import { lockOrganization, roleSchema } from "./orgs";

// Joining an organization takes the person's own consent: an ADMIN invites an email, gets a
// link to hand over, and the person who opens it accepts — signed in with that email, or by
// creating the account there. Inviting says the same whether the email has an account on
// this instance or not, so the form reveals nothing about other organizations' people.
//
// Invitations live in better-auth's `invitation` table (its endpoints are closed). The link
// carries a random secret; the row's id is the secret's SHA-256, so the table alone cannot
// be turned back into working links.

export const INVITATION_DAYS = 7;
const SECRET = /^inv_[0-9A-Za-z]{32}$/;

export const inviteSchema = z.object({ email: emailSchema, role: roleSchema });

export type InvitationView = { id: string; email: string; role: string; invitedBy: string | null; createdAt: Date; expiresAt: Date };

/**
 * Invites an email to the actor's organization with a role. A pending invitation of the same
 * email is replaced (its link stops working). The secret is returned once.
 */
export async function inviteMember(ctx: ActorCtx, raw: unknown, now = new Date()) {
  const { actor } = ctx;
  requireRole(actor, "ADMIN");
  if (!actor.userId) throw new ConflictError("Invitations are sent by a person");
  const { email, role } = parse(inviteSchema, raw);
  const secret = `inv_${randomCode(32)}`;
  const expiresAt = new Date(now.getTime() + INVITATION_DAYS * 86_400_000);
  const audited = await withTransaction(ctx, async (tx) => {
    // One change of the organization's people at a time: two invitations of one email sent at
    // once leave one pending, as one after the other do.
    await lockOrganization(tx, actor.organizationId);
    // Members of this organization are listed on the same page: saying so reveals nothing new.
    const [already] = await tx
      .select({ id: member.id })
      .from(member)
      .innerJoin(user, eq(user.id, member.userId))
      .where(and(eq(member.organizationId, actor.organizationId), eq(user.email, email)))
      .limit(1);
    if (already) throw new ConflictError(`${email} is already a member of this organization`);
    await tx
      .update(invitation)
      .set({ status: "replaced" })
      .where(and(eq(invitation.organizationId, actor.organizationId), eq(invitation.email, email), eq(invitation.status, "pending")));
    await tx
      .insert(invitation)
      .values({ id: sha256(secret), organizationId: actor.organizationId, email, role, status: "pending", expiresAt, createdAt: now, inviterId: actor.userId! });
    return recordAudit(tx, actor, { action: "member.invite", target: { type: "invitation", id: sha256(secret), label: email }, detail: { role, expiresAt: expiresAt.toISOString() } }, now);
  });
  publish(audited);
  return { secret, email, role, expiresAt };
}

/** The organization's invitations still waiting for an answer, oldest first. */
export async function listInvitations({ db, actor }: ActorCtx, now = new Date()): Promise<InvitationView[]> {
  requireRole(actor, "ADMIN");
  const rows = await db
    .select({ id: invitation.id, email: invitation.email, role: invitation.role, invitedBy: user.email, createdAt: invitation.createdAt, expiresAt: invitation.expiresAt })
    .from(invitation)
    .leftJoin(user, eq(user.id, invitation.inviterId))
    .where(and(eq(invitation.organizationId, actor.organizationId), eq(invitation.status, "pending"), gt(invitation.expiresAt, now)))
    .orderBy(asc(invitation.createdAt));
  return rows.map((i) => ({ ...i, role: i.role ?? "READ_ONLY" }));
}

export async function revokeInvitation(ctx: ActorCtx, rawId: unknown) {
  const { actor } = ctx;
  requireRole(actor, "ADMIN");
  const id = parse(z.string().regex(/^[0-9a-f]{64}$/, "Not an invitation id"), rawId);
  publish(
    await withTransaction(ctx, async (tx) => {
      const [revoked] = await tx
        .update(invitation)
        .set({ status: "revoked" })
        .where(and(eq(invitation.id, id), eq(invitation.organizationId, actor.organizationId), eq(invitation.status, "pending")))
        .returning({ email: invitation.email, role: invitation.role });
      if (!revoked) throw new NotFoundError("Invitation");
      return recordAudit(tx, actor, { action: "member.invite_revoke", target: { type: "invitation", id, label: revoked.email }, detail: { role: revoked.role } });
    }),
  );
}

export type InvitationLookup = { email: string; role: string; organization: string; invitedBy: string | null; expiresAt: Date };

/** What the holder of a link is invited to; not found once used, revoked, replaced or expired. */
export async function findInvitation({ db }: Ctx, rawSecret: unknown, now = new Date()): Promise<InvitationLookup> {
  const secret = z.string().regex(SECRET).safeParse(rawSecret);
  if (!secret.success) throw new NotFoundError("Invitation");
  const [row] = await db
    .select({ email: invitation.email, role: invitation.role, organization: organization.name, invitedBy: user.email, expiresAt: invitation.expiresAt })
    .from(invitation)
    .innerJoin(organization, eq(organization.id, invitation.organizationId))
    .leftJoin(user, eq(user.id, invitation.inviterId))
    .where(and(eq(invitation.id, sha256(secret.data)), eq(invitation.status, "pending"), gt(invitation.expiresAt, now)))
    .limit(1);
  if (!row) throw new NotFoundError("Invitation");
  return { ...row, role: row.role ?? "READ_ONLY" };
}

type Accepting = ({ userId: string; email: string } | { newUser: NewUser }) & { address?: string };

async function accept(ctx: Ctx, rawSecret: unknown, who: Accepting, now: Date) {
  const secret = z.string().regex(SECRET).safeParse(rawSecret);
  if (!secret.success) throw new NotFoundError("Invitation");
  const joined = await withTransaction(ctx, async (tx) => {
    // The invitation is locked first: a second accept sent at once (a double click) waits for
    // this one, then reads it accepted.
    const id = eq(invitation.id, sha256(secret.data));
    await lockRows(tx, invitation, id);
    const [inv] = await tx.select().from(invitation).where(id).limit(1);
    if (!inv || inv.status !== "pending" || inv.expiresAt <= now) throw new NotFoundError("Invitation");
    let userId: string;
    if ("newUser" in who) {
      if (who.newUser.email !== inv.email) throw new UnprocessableError("The invitation is for another email");
      userId = (await insertUser(tx, who.newUser)).id;
    } else {
      if (who.email !== inv.email) throw new UnprocessableError(`This invitation is for ${inv.email}; you are signed in as ${who.email}`);
      userId = who.userId;
    }
    const role = roleSchema.parse(inv.role);
    const [existing] = await tx.select({ id: member.id }).from(member).where(and(eq(member.organizationId, inv.organizationId), eq(member.userId, userId))).limit(1);
    if (!existing) await tx.insert(member).values({ id: randomUUID(), organizationId: inv.organizationId, userId, role, createdAt: now });
    await tx.update(invitation).set({ status: "accepted" }).where(eq(invitation.id, inv.id));
    // The person joining is the actor, in the organization they join.
    const actor: Actor = { organizationId: inv.organizationId, userId, role, label: inv.email, principal: `user:${userId}`, address: who.address };
    const audited = await recordAudit(tx, actor, { action: "member.add", target: { type: "member", id: userId, label: inv.email }, detail: { role, invitedBy: inv.inviterId } }, now);
    return { organizationId: inv.organizationId, userId, role, audited };
  });
  publish(joined.audited);
  return { organizationId: joined.organizationId, userId: joined.userId, role: joined.role };
}

/** The signed-in person accepts a link addressed to their own email. */
export async function acceptInvitation(ctx: Ctx, rawSecret: unknown, signedIn: { userId: string; email: string; address?: string }, now = new Date()) {
  return accept(ctx, rawSecret, signedIn, now);
}

/**
 * The person has no account yet: it is created with the invitation's email, and joins, in
 * one transaction. An account that already exists must sign in to accept instead.
 */
export async function acceptInvitationAsNewUser(ctx: Ctx, rawSecret: unknown, raw: { name: unknown; password: unknown; address?: string }, now = new Date()) {
  const found = await findInvitation(ctx, rawSecret, now);
  if (await findUserByEmail(ctx, found.email)) throw new ConflictError(`An account with ${found.email} already exists: sign in to accept`);
  const newUser = await prepareUser({ email: found.email, name: raw.name, password: raw.password });
  return { ...(await accept(ctx, rawSecret, { newUser, address: raw.address }, now)), email: found.email };
}
