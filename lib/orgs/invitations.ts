import { randomUUID } from "node:crypto";
import { and, asc, eq, gt } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "../../db/client";
import { invitation, member, organization, user } from "../../db/schema";
import { requireRole, type Actor } from "../auth/actor";
import { emailSchema, findUserByEmail, insertUser, prepareUser, type NewUser } from "../auth/users";
import { randomCode, sha256 } from "../crypto";
import { ConflictError, NotFoundError, UnprocessableError } from "../errors";
import { parse } from "../validation";
import { roleSchema } from "./orgs";

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
export function inviteMember(db: Db, actor: Actor, raw: unknown, now = new Date()) {
  requireRole(actor, "ADMIN");
  if (!actor.userId) throw new ConflictError("Invitations are sent by a person");
  const { email, role } = parse(inviteSchema, raw);
  const secret = `inv_${randomCode(32)}`;
  const expiresAt = new Date(now.getTime() + INVITATION_DAYS * 86_400_000);
  db.transaction((tx) => {
    // Members of this organization are listed on the same page: saying so reveals nothing new.
    const already = tx
      .select({ id: member.id })
      .from(member)
      .innerJoin(user, eq(user.id, member.userId))
      .where(and(eq(member.organizationId, actor.organizationId), eq(user.email, email)))
      .get();
    if (already) throw new ConflictError(`${email} is already a member of this organization`);
    tx.update(invitation)
      .set({ status: "replaced" })
      .where(and(eq(invitation.organizationId, actor.organizationId), eq(invitation.email, email), eq(invitation.status, "pending")))
      .run();
    tx.insert(invitation)
      .values({ id: sha256(secret), organizationId: actor.organizationId, email, role, status: "pending", expiresAt, createdAt: now, inviterId: actor.userId! })
      .run();
  });
  return { secret, email, role, expiresAt };
}

/** The organization's invitations still waiting for an answer, oldest first. */
export function listInvitations(db: Db, actor: Actor, now = new Date()): InvitationView[] {
  requireRole(actor, "ADMIN");
  return db
    .select({ id: invitation.id, email: invitation.email, role: invitation.role, invitedBy: user.email, createdAt: invitation.createdAt, expiresAt: invitation.expiresAt })
    .from(invitation)
    .leftJoin(user, eq(user.id, invitation.inviterId))
    .where(and(eq(invitation.organizationId, actor.organizationId), eq(invitation.status, "pending"), gt(invitation.expiresAt, now)))
    .orderBy(asc(invitation.createdAt))
    .all()
    .map((i) => ({ ...i, role: i.role ?? "READ_ONLY" }));
}

export function revokeInvitation(db: Db, actor: Actor, rawId: unknown) {
  requireRole(actor, "ADMIN");
  const id = parse(z.string().regex(/^[0-9a-f]{64}$/, "Not an invitation id"), rawId);
  const res = db
    .update(invitation)
    .set({ status: "revoked" })
    .where(and(eq(invitation.id, id), eq(invitation.organizationId, actor.organizationId), eq(invitation.status, "pending")))
    .run();
  if (!res.changes) throw new NotFoundError("Invitation");
}

export type InvitationLookup = { email: string; role: string; organization: string; invitedBy: string | null; expiresAt: Date };

/** What the holder of a link is invited to; not found once used, revoked, replaced or expired. */
export function findInvitation(db: Db, rawSecret: unknown, now = new Date()): InvitationLookup {
  const secret = z.string().regex(SECRET).safeParse(rawSecret);
  if (!secret.success) throw new NotFoundError("Invitation");
  const row = db
    .select({ email: invitation.email, role: invitation.role, organization: organization.name, invitedBy: user.email, expiresAt: invitation.expiresAt })
    .from(invitation)
    .innerJoin(organization, eq(organization.id, invitation.organizationId))
    .leftJoin(user, eq(user.id, invitation.inviterId))
    .where(and(eq(invitation.id, sha256(secret.data)), eq(invitation.status, "pending"), gt(invitation.expiresAt, now)))
    .get();
  if (!row) throw new NotFoundError("Invitation");
  return { ...row, role: row.role ?? "READ_ONLY" };
}

type Accepting = { userId: string; email: string } | { newUser: NewUser };

function accept(db: Db, rawSecret: unknown, who: Accepting, now: Date) {
  const secret = z.string().regex(SECRET).safeParse(rawSecret);
  if (!secret.success) throw new NotFoundError("Invitation");
  return db.transaction((tx) => {
    const inv = tx.select().from(invitation).where(eq(invitation.id, sha256(secret.data))).get();
    if (!inv || inv.status !== "pending" || inv.expiresAt <= now) throw new NotFoundError("Invitation");
    let userId: string;
    if ("newUser" in who) {
      if (who.newUser.email !== inv.email) throw new UnprocessableError("The invitation is for another email");
      userId = insertUser(tx, who.newUser).id;
    } else {
      if (who.email !== inv.email) throw new UnprocessableError(`This invitation is for ${inv.email}; you are signed in as ${who.email}`);
      userId = who.userId;
    }
    const role = roleSchema.parse(inv.role);
    const existing = tx.select({ id: member.id }).from(member).where(and(eq(member.organizationId, inv.organizationId), eq(member.userId, userId))).get();
    if (!existing) tx.insert(member).values({ id: randomUUID(), organizationId: inv.organizationId, userId, role, createdAt: now }).run();
    tx.update(invitation).set({ status: "accepted" }).where(eq(invitation.id, inv.id)).run();
    return { organizationId: inv.organizationId, userId, role };
  });
}

/** The signed-in person accepts a link addressed to their own email. */
export function acceptInvitation(db: Db, rawSecret: unknown, signedIn: { userId: string; email: string }, now = new Date()) {
  return accept(db, rawSecret, signedIn, now);
}

/**
 * The person has no account yet: it is created with the invitation's email, and joins, in
 * one transaction. An account that already exists must sign in to accept instead.
 */
export async function acceptInvitationAsNewUser(db: Db, rawSecret: unknown, raw: { name: unknown; password: unknown }, now = new Date()) {
  const found = findInvitation(db, rawSecret, now);
  if (findUserByEmail(db, found.email)) throw new ConflictError(`An account with ${found.email} already exists: sign in to accept`);
  const newUser = await prepareUser({ email: found.email, name: raw.name, password: raw.password });
  return { ...accept(db, rawSecret, { newUser }, now), email: found.email };
}
