import { randomUUID } from "node:crypto";
import { and, asc, count, desc, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import type { Db, DbOrTx } from "../../db/client";
import { apiTokens, member, organization, orgSettings, session as sessionTable, user } from "../../db/schema";
import { lowerRole, ROLES, type Role } from "../../rules/roles";
import { requireRole, type Actor } from "../auth/actor";
import { getAuth } from "../auth/auth";
import { emailSchema, hasAnyUser, insertUser, passwordSchema, prepareUser, userNameSchema } from "../auth/users";
import { randomCode, sha256 } from "../crypto";
import { ConflictError, NotFoundError } from "../errors";
import { publish } from "../events";
import { parse } from "../validation";
import { noteTokenUse } from "./token-usage";

export const roleSchema = z.enum(ROLES, { error: () => `Role is one of ${ROLES.join(", ")}` });
export const slugSchema = z
  .string()
  .trim()
  .min(2, "Slug is at least 2 characters")
  .max(40, "Slug is at most 40 characters")
  .regex(/^[a-z0-9][a-z0-9-]*$/, "Slug is lower-case letters, digits and dashes");
export const orgNameSchema = z.string().trim().min(1, "Name is required").max(80, "Name is at most 80 characters");

const newRegistrationToken = () => `reg_${randomCode(32)}`;

/** Creates an organization with its settings and its first ADMIN. */
export function createOrganization(db: DbOrTx, input: { name: string; slug: string; ownerId: string; autoApprove?: boolean }) {
  const name = parse(orgNameSchema, input.name);
  const slug = parse(slugSchema, input.slug);
  return (db as Db).transaction((tx) => {
    if (tx.select({ id: organization.id }).from(organization).where(eq(organization.slug, slug)).get()) {
      throw new ConflictError(`The slug ${slug} is taken`);
    }
    const org = tx.insert(organization).values({ id: randomUUID(), name, slug, createdAt: new Date() }).returning().get();
    tx.insert(orgSettings).values({ organizationId: org.id, autoApprove: input.autoApprove ?? false, registrationToken: newRegistrationToken() }).run();
    tx.insert(member).values({ id: randomUUID(), organizationId: org.id, userId: input.ownerId, role: "ADMIN", createdAt: new Date() }).run();
    return org;
  });
}

export const setupSchema = z.object({ name: userNameSchema, email: emailSchema, password: passwordSchema, orgName: orgNameSchema, orgSlug: slugSchema });

/**
 * The first start: the first ADMIN and their organization, together or not at all. The "no
 * user yet" check runs in the same transaction, so two setups racing make one instance.
 */
export async function setupInstance(db: Db, raw: unknown) {
  const input = parse(setupSchema, raw);
  const prepared = await prepareUser(input);
  return db.transaction((tx) => {
    if (hasAnyUser(tx)) throw new ConflictError("Taskwire is already set up: sign in instead");
    const admin = insertUser(tx, prepared);
    const org = createOrganization(tx, { name: input.orgName, slug: input.orgSlug, ownerId: admin.id });
    return { admin, org };
  });
}

/** The organization as the API shows it; the registration token only to ADMINs. */
export function getOrganization(db: Db, actor: Actor) {
  const row = db
    .select({ slug: organization.slug, name: organization.name, autoApprove: orgSettings.autoApprove, registrationToken: orgSettings.registrationToken })
    .from(organization)
    .innerJoin(orgSettings, eq(orgSettings.organizationId, organization.id))
    .where(eq(organization.id, actor.organizationId))
    .get();
  if (!row) throw new NotFoundError("Organization");
  return { ...row, registrationToken: actor.role === "ADMIN" ? row.registrationToken : null };
}

export function setAutoApprove(db: Db, actor: Actor, value: unknown) {
  requireRole(actor, "ADMIN");
  const autoApprove = parse(z.boolean({ error: () => "autoApprove is true or false" }), value);
  db.update(orgSettings).set({ autoApprove }).where(eq(orgSettings.organizationId, actor.organizationId)).run();
}

export function rotateRegistrationToken(db: Db, actor: Actor): string {
  requireRole(actor, "ADMIN");
  const token = newRegistrationToken();
  db.update(orgSettings).set({ registrationToken: token }).where(eq(orgSettings.organizationId, actor.organizationId)).run();
  return token;
}

/** The organizations a user belongs to, with the role in each. */
export function membershipsOf(db: Db, userId: string) {
  return db
    .select({ id: organization.id, name: organization.name, slug: organization.slug, role: member.role })
    .from(member)
    .innerJoin(organization, eq(organization.id, member.organizationId))
    .where(eq(member.userId, userId))
    .orderBy(asc(organization.name))
    .all()
    .map((m) => ({ ...m, role: roleSchema.catch("READ_ONLY").parse(m.role) }));
}

export function listMembers(db: Db, actor: Actor) {
  return db
    .select({ id: member.id, userId: user.id, email: user.email, name: user.name, role: member.role, createdAt: member.createdAt })
    .from(member)
    .innerJoin(user, eq(user.id, member.userId))
    .where(eq(member.organizationId, actor.organizationId))
    .orderBy(asc(user.email))
    .all();
}

function adminCount(db: DbOrTx, organizationId: string) {
  return db.select({ n: count() }).from(member).where(and(eq(member.organizationId, organizationId), eq(member.role, "ADMIN"))).get()!.n;
}

function memberInOrg(db: DbOrTx, actor: Actor, memberId: unknown) {
  const id = parse(z.string().min(1).max(64), memberId);
  const m = db.select().from(member).where(and(eq(member.id, id), eq(member.organizationId, actor.organizationId))).get();
  if (!m) throw new NotFoundError("Member");
  return m;
}

const LAST_ADMIN = "An organization keeps at least one ADMIN";

/**
 * Changes a member's role. The last-ADMIN check runs inside the transaction it guards, so two
 * admins demoting each other at once cannot leave the organization without one. The member's
 * live sockets close at once: they reconnect with the new role.
 */
export function setMemberRole(db: Db, actor: Actor, input: { memberId: unknown; role: unknown }) {
  requireRole(actor, "ADMIN");
  const role = parse(roleSchema, input.role);
  const m = db.transaction((tx) => {
    const m = memberInOrg(tx, actor, input.memberId);
    if (m.role === role) return m;
    if (m.role === "ADMIN" && adminCount(tx, actor.organizationId) <= 1) throw new ConflictError(LAST_ADMIN);
    tx.update(member).set({ role }).where(eq(member.id, m.id)).run();
    return m;
  });
  publish([{ kind: "access.changed", userId: m.userId, organizationId: actor.organizationId }]);
}

/** Removes a member: their tokens for this organization are revoked and their live sockets closed, at once. */
export function removeMember(db: Db, actor: Actor, memberId: unknown) {
  requireRole(actor, "ADMIN");
  const m = db.transaction((tx) => {
    const m = memberInOrg(tx, actor, memberId);
    if (m.role === "ADMIN" && adminCount(tx, actor.organizationId) <= 1) throw new ConflictError(LAST_ADMIN);
    tx.delete(member).where(eq(member.id, m.id)).run();
    tx.update(apiTokens)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiTokens.userId, m.userId), eq(apiTokens.organizationId, actor.organizationId), isNull(apiTokens.revokedAt)))
      .run();
    return m;
  });
  publish([{ kind: "access.changed", userId: m.userId, organizationId: actor.organizationId }]);
}

/**
 * Signs a member out everywhere: every session of theirs ends (through better-auth's own
 * session store, so its hooks close the live sockets). They can sign in again; to keep them
 * out, remove them.
 */
export async function endMemberSessions(db: Db, actor: Actor, memberId: unknown): Promise<{ ended: number }> {
  requireRole(actor, "ADMIN");
  const m = memberInOrg(db, actor, memberId);
  const sessions = db.select({ token: sessionTable.token }).from(sessionTable).where(eq(sessionTable.userId, m.userId)).all();
  const ctx = await getAuth().$context;
  for (const s of sessions) await ctx.internalAdapter.deleteSession(s.token);
  return { ended: sessions.length };
}

export const tokenNameSchema = z.string().trim().min(1, "Name is required").max(60, "Name is at most 60 characters");

/** Creates an API token; the secret is returned once and stored only as a hash. */
export function createApiToken(db: Db, actor: Actor, input: { name: unknown; role: unknown }) {
  requireRole(actor, "ADMIN");
  if (!actor.userId) throw new ConflictError("Tokens belong to a user");
  const name = parse(tokenNameSchema, input.name);
  const role = lowerRole(parse(roleSchema, input.role), actor.role);
  const secret = `tw_${randomCode(40)}`;
  db.insert(apiTokens)
    .values({ id: randomUUID(), organizationId: actor.organizationId, userId: actor.userId, name, prefix: secret.slice(0, 8), tokenHash: sha256(secret), role, createdAt: new Date() })
    .run();
  return { secret, name, role };
}

export function listApiTokens(db: Db, actor: Actor) {
  requireRole(actor, "ADMIN");
  return db
    .select({ id: apiTokens.id, name: apiTokens.name, prefix: apiTokens.prefix, role: apiTokens.role, owner: user.email, createdAt: apiTokens.createdAt, lastUsedAt: apiTokens.lastUsedAt, revokedAt: apiTokens.revokedAt })
    .from(apiTokens)
    .innerJoin(user, eq(user.id, apiTokens.userId))
    .where(eq(apiTokens.organizationId, actor.organizationId))
    .orderBy(desc(apiTokens.createdAt))
    .all();
}

export function revokeApiToken(db: Db, actor: Actor, id: unknown) {
  requireRole(actor, "ADMIN");
  const tokenId = parse(z.string().uuid("Not a token id"), id);
  const res = db
    .update(apiTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiTokens.id, tokenId), eq(apiTokens.organizationId, actor.organizationId), isNull(apiTokens.revokedAt)))
    .run();
  if (!res.changes) throw new NotFoundError("Token");
}

/**
 * The actor a bearer token stands for: its organization, and the lower of its own role and
 * its owner's current role there (a demoted or removed owner takes the token down with them).
 */
export function actorForToken(db: Db, secret: string): Actor | null {
  const row = db
    .select({ token: apiTokens, memberRole: member.role, email: user.email })
    .from(apiTokens)
    .innerJoin(member, and(eq(member.userId, apiTokens.userId), eq(member.organizationId, apiTokens.organizationId)))
    .innerJoin(user, eq(user.id, apiTokens.userId))
    .where(and(eq(apiTokens.tokenHash, sha256(secret)), isNull(apiTokens.revokedAt)))
    .get();
  if (!row) return null;
  const ownerRole = roleSchema.safeParse(row.memberRole);
  if (!ownerRole.success) return null;
  // Recorded later, off this request: a read must not need a write (see token-usage.ts).
  noteTokenUse(db, row.token.id);
  return {
    organizationId: row.token.organizationId,
    userId: row.token.userId,
    role: lowerRole(row.token.role as Role, ownerRole.data),
    label: `${row.email} (token ${row.token.name})`,
    principal: `token:${row.token.id}`,
  };
}
