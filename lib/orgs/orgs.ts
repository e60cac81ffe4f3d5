import { alone, changedRows, lockRows, unlessTaken } from "../../db/portable";
import { randomUUID } from "node:crypto";
import { and, asc, count, desc, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import { isTx, type DbOrTx, type Tx } from "../../db/client";
import { withTransaction, type Ctx } from "../../db/transaction";
import { apiTokens, invitation, member, organization, orgSettings, session as sessionTable, tasks, user } from "../../db/schema";
import { lowerRole, ROLES, type Role } from "../../rules/roles";
import { effectiveTaskDays, RETENTION_DAYS } from "../../rules/retention";
import { readEnv } from "../env";
import { requireRole, type Actor, type ActorCtx } from "../actor";
import { emailSchema, hasAnyUser, insertUser, passwordSchema, prepareUser, userNameSchema } from "../auth/users";
import { randomCode, sha256 } from "../crypto";
import { ConflictError, NotFoundError } from "../errors";
import { recordAudit } from "../audit/record";
import { publish } from "../events";
import { parse, parseField } from "../validation";
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

/** Creates an organization with its settings and its first ADMIN (inside the caller's transaction, if any). */
export async function createOrganization(ctx: Ctx, input: { name: string; slug: string; ownerId: string; autoApprove?: boolean }) {
  const name = parse(orgNameSchema, input.name);
  const slug = parse(slugSchema, input.slug);
  return withTransaction(ctx, async (tx) => {
    const [org] = await unlessTaken(tx.insert(organization).values({ id: randomUUID(), name, slug, createdAt: new Date() }).returning(), organization.slug, () => new ConflictError(`The slug ${slug} is taken`));
    await tx.insert(orgSettings).values({ organizationId: org.id, autoApprove: input.autoApprove ?? false, registrationToken: newRegistrationToken() });
    await tx.insert(member).values({ id: randomUUID(), organizationId: org.id, userId: input.ownerId, role: "ADMIN", createdAt: new Date() });
    return org;
  });
}

export const setupSchema = z.object({ name: userNameSchema, email: emailSchema, password: passwordSchema, orgName: orgNameSchema, orgSlug: slugSchema });

/**
 * The first start: the first ADMIN and their organization, together or not at all. Setups run
 * one at a time, each checking "no user yet" in its own transaction, so two racing make one
 * instance.
 */
export async function setupInstance(ctx: Ctx, raw: unknown, opts: { address?: string } = {}) {
  const input = parse(setupSchema, raw);
  const prepared = await prepareUser(input);
  return withTransaction(ctx, async (tx) => {
    await alone(tx, "instanceSetup");
    if (await hasAnyUser({ db: tx })) throw new ConflictError("Taskwire is already set up: sign in instead");
    const admin = await insertUser(tx, prepared);
    const org = await createOrganization({ db: tx }, { name: input.orgName, slug: input.orgSlug, ownerId: admin.id });
    const actor: Actor = { organizationId: org.id, userId: admin.id, role: "ADMIN", label: admin.email, address: opts.address };
    await recordAudit(tx, actor, { action: "org.create", target: { type: "organization", id: org.id, label: org.name }, detail: { slug: org.slug } });
    return { admin, org };
  });
}

/**
 * How far back this organization's task history goes: the days finished tasks are kept (its
 * setting under the instance's ceiling; null: forever) and its oldest task's creation.
 */
export async function historyOf({ db, actor }: ActorCtx) {
  const [row] = await db.select({ days: orgSettings.taskRetentionDays }).from(orgSettings).where(eq(orgSettings.organizationId, actor.organizationId));
  const [oldest] = await db.select({ at: tasks.createdAt }).from(tasks).where(eq(tasks.organizationId, actor.organizationId)).orderBy(asc(tasks.id)).limit(1);
  return { keptDays: effectiveTaskDays(row?.days ?? null, readEnv().TASKWIRE_RETENTION_MAX_DAYS ?? null), oldestAt: oldest?.at ?? null };
}

/** The organization as the API shows it; the registration token only to ADMINs. */
export async function getOrganization({ db, actor }: ActorCtx) {
  const [row] = await db
    .select({
      slug: organization.slug,
      name: organization.name,
      autoApprove: orgSettings.autoApprove,
      registrationToken: orgSettings.registrationToken,
      taskRetentionDays: orgSettings.taskRetentionDays,
      auditRetentionDays: orgSettings.auditRetentionDays,
    })
    .from(organization)
    .innerJoin(orgSettings, eq(orgSettings.organizationId, organization.id))
    .where(eq(organization.id, actor.organizationId))
    .limit(1);
  if (!row) throw new NotFoundError("Organization");
  return { ...row, registrationToken: actor.role === "ADMIN" ? row.registrationToken : null };
}

/** An organization's settings, locked before they are read for a change: two changes at once each record what the other left. */
const lockSettings = (tx: Tx, organizationId: string) => lockRows(tx, orgSettings, eq(orgSettings.organizationId, organizationId));

export async function setAutoApprove(ctx: ActorCtx, value: unknown) {
  const { actor } = ctx;
  requireRole(actor, "ADMIN");
  const autoApprove = parse(z.boolean({ error: () => "autoApprove is true or false" }), value);
  publish(
    await withTransaction(ctx, async (tx) => {
      await lockSettings(tx, actor.organizationId);
      const [before] = await tx.select({ autoApprove: orgSettings.autoApprove }).from(orgSettings).where(eq(orgSettings.organizationId, actor.organizationId));
      await tx.update(orgSettings).set({ autoApprove }).where(eq(orgSettings.organizationId, actor.organizationId));
      return recordAudit(tx, actor, { action: "org.auto_approve", target: orgTarget(actor), detail: { from: before?.autoApprove ?? null, to: autoApprove } });
    }),
  );
}

const daysSchema = (what: string) =>
  z
    .number({ error: () => `${what} is a whole number of days` })
    .int(`${what} is a whole number of days`)
    .min(RETENTION_DAYS.min, `${what} is at least ${RETENTION_DAYS.min} day`)
    .max(RETENTION_DAYS.max, `${what} is at most ${RETENTION_DAYS.max.toLocaleString("en")} days`);

/** As the Settings form and the API name them. */
export const retentionSchema = z
  .object({
    // null keeps finished tasks forever.
    task_days: daysSchema("Task retention").nullable(),
    audit_days: daysSchema("Audit retention"),
  })
  .strict()
  .transform((r) => ({ taskDays: r.task_days, auditDays: r.audit_days }));

/**
 * How long this organization keeps finished tasks (or forever) and its audit trail. Shorter
 * than before, the purge removes what is now past it on its next run (lib/tasks/purge.ts).
 */
export async function setRetention(ctx: ActorCtx, raw: unknown) {
  const { actor } = ctx;
  requireRole(actor, "ADMIN");
  const next = parse(retentionSchema, raw);
  publish(
    await withTransaction(ctx, async (tx) => {
      await lockSettings(tx, actor.organizationId);
      const [before] = await tx
        .select({ taskDays: orgSettings.taskRetentionDays, auditDays: orgSettings.auditRetentionDays })
        .from(orgSettings)
        .where(eq(orgSettings.organizationId, actor.organizationId));
      if (before && before.taskDays === next.taskDays && before.auditDays === next.auditDays) return [];
      await tx.update(orgSettings).set({ taskRetentionDays: next.taskDays, auditRetentionDays: next.auditDays }).where(eq(orgSettings.organizationId, actor.organizationId));
      return recordAudit(tx, actor, { action: "org.retention", target: orgTarget(actor), detail: { from: before ?? null, to: next } });
    }),
  );
}

export async function rotateRegistrationToken(ctx: ActorCtx): Promise<string> {
  const { actor } = ctx;
  requireRole(actor, "ADMIN");
  const token = newRegistrationToken();
  publish(
    await withTransaction(ctx, async (tx) => {
      await tx.update(orgSettings).set({ registrationToken: token }).where(eq(orgSettings.organizationId, actor.organizationId));
      // The token itself is a secret: the trail keeps that it changed, not what it is.
      return recordAudit(tx, actor, { action: "org.registration_token", target: orgTarget(actor) });
    }),
  );
  return token;
}

/** The organizations a user belongs to, with the role in each. */
export async function membershipsOf({ db }: Ctx, userId: string) {
  const rows = await db
    .select({ id: organization.id, name: organization.name, slug: organization.slug, role: member.role })
    .from(member)
    .innerJoin(organization, eq(organization.id, member.organizationId))
    .where(eq(member.userId, userId))
    .orderBy(asc(organization.name));
  return rows.map((m) => ({ ...m, role: roleSchema.catch("READ_ONLY").parse(m.role) }));
}

export async function listMembers({ db, actor }: ActorCtx) {
  return db
    .select({ id: member.id, userId: user.id, email: user.email, name: user.name, role: member.role, createdAt: member.createdAt })
    .from(member)
    .innerJoin(user, eq(user.id, member.userId))
    .where(eq(member.organizationId, actor.organizationId))
    .orderBy(asc(user.email));
}

async function adminCount(tx: Tx, organizationId: string) {
  return (await tx.select({ n: count() }).from(member).where(and(eq(member.organizationId, organizationId), eq(member.role, "ADMIN"))))[0].n;
}

async function memberInOrg({ db, actor }: ActorCtx, memberId: unknown) {
  const id = parse(z.string().min(1).max(64), memberId);
  const [m] = await db.select().from(member).where(and(eq(member.id, id), eq(member.organizationId, actor.organizationId))).limit(1);
  if (!m) throw new NotFoundError("Member");
  return m;
}

const LAST_ADMIN = "An organization keeps at least one ADMIN";

const orgTarget = (actor: Actor) => ({ type: "organization" as const, id: actor.organizationId });

/** A member as the trail names them: by their email, which outlives the membership. */
async function memberTarget(h: DbOrTx, m: { id: string; userId: string }) {
  const [u] = await h.select({ email: user.email }).from(user).where(eq(user.id, m.userId)).limit(1);
  return { type: "member" as const, id: m.userId, label: u?.email ?? null };
}

/** Membership changes of one organization run one at a time, on every node: the last-ADMIN check holds. */
export const lockOrganization = (tx: Tx, organizationId: string) => lockRows(tx, organization, eq(organization.id, organizationId));

/**
 * Changes a member's role. The last-ADMIN check runs inside the transaction it guards, so two
 * admins demoting each other at once cannot leave the organization without one. The member's
 * live sockets close at once: they reconnect with the new role.
 */
export async function setMemberRole(ctx: ActorCtx, input: { memberId: unknown; role: unknown }) {
  const { actor } = ctx;
  requireRole(actor, "ADMIN");
  const role = parseField("role", roleSchema, input.role);
  const m = await withTransaction(ctx, async (tx) => {
    await lockOrganization(tx, actor.organizationId);
    const m = await memberInOrg({ db: tx, actor }, input.memberId);
    if (m.role === role) return { m, audited: [] };
    if (m.role === "ADMIN" && (await adminCount(tx, actor.organizationId)) <= 1) throw new ConflictError(LAST_ADMIN);
    await tx.update(member).set({ role }).where(eq(member.id, m.id));
    // An ADMIN no more: what they invited, as ADMIN, no longer holds.
    const invitationsRevoked = m.role === "ADMIN" ? await revokeInvitationsOf(tx, actor.organizationId, m.userId) : 0;
    const detail = { from: m.role, to: role, ...(invitationsRevoked ? { invitationsRevoked } : {}) };
    return { m, audited: await recordAudit(tx, actor, { action: "member.role", target: await memberTarget(tx, m), detail }) };
  });
  publish([{ kind: "access.changed", userId: m.m.userId, organizationId: actor.organizationId }, ...m.audited]);
}

/**
 * An invitation speaks for the ADMIN who sent it: once they are removed, or no longer ADMIN,
 * their pending invitations are revoked, in the transaction that changed them (as their API
 * tokens are). Returns how many.
 */
async function revokeInvitationsOf(tx: Tx, organizationId: string, inviterId: string): Promise<number> {
  const revoked = await tx
    .update(invitation)
    .set({ status: "revoked" })
    .where(and(eq(invitation.organizationId, organizationId), eq(invitation.inviterId, inviterId), eq(invitation.status, "pending")));
  return changedRows(revoked);
}

/** Removes a member: their tokens and pending invitations for this organization are revoked and their live sockets closed, at once. */
export async function removeMember(ctx: ActorCtx, memberId: unknown) {
  const { actor } = ctx;
  requireRole(actor, "ADMIN");
  const m = await withTransaction(ctx, async (tx) => {
    await lockOrganization(tx, actor.organizationId);
    const m = await memberInOrg({ db: tx, actor }, memberId);
    if (m.role === "ADMIN" && (await adminCount(tx, actor.organizationId)) <= 1) throw new ConflictError(LAST_ADMIN);
    await tx.delete(member).where(eq(member.id, m.id));
    const revoked = await tx
      .update(apiTokens)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiTokens.userId, m.userId), eq(apiTokens.organizationId, actor.organizationId), isNull(apiTokens.revokedAt)));
    const detail = { role: m.role, tokensRevoked: changedRows(revoked), invitationsRevoked: await revokeInvitationsOf(tx, actor.organizationId, m.userId) };
    return { m, audited: await recordAudit(tx, actor, { action: "member.remove", target: await memberTarget(tx, m), detail }) };
  });
  publish([{ kind: "access.changed", userId: m.m.userId, organizationId: actor.organizationId }, ...m.audited]);
}

/**
 * Signs a member out everywhere: every session of theirs ends, with its audit row, in one
 * transaction (a failure ends none), and their live sockets close at once, as for any session
 * that ends (lib/auth/auth.ts). They can sign in again; to keep them out, remove them.
 */
export async function endMemberSessions(ctx: ActorCtx, memberId: unknown): Promise<{ ended: number }> {
  const { actor } = ctx;
  requireRole(actor, "ADMIN");
  const { ended, audited } = await withTransaction(ctx, async (tx) => {
    const m = await memberInOrg({ db: tx, actor }, memberId);
    const ended = await tx.delete(sessionTable).where(eq(sessionTable.userId, m.userId)).returning({ id: sessionTable.id });
    return { ended, audited: await recordAudit(tx, actor, { action: "member.sign_out", target: await memberTarget(tx, m), detail: { sessionsEnded: ended.length } }) };
  });
  publish([...ended.map((s) => ({ kind: "access.changed" as const, sessionId: s.id })), ...audited]);
  return { ended: ended.length };
}

export const tokenNameSchema = z.string().trim().min(1, "Name is required").max(60, "Name is at most 60 characters");

/** Creates an API token; the secret is returned once and stored only as a hash. */
export async function createApiToken(ctx: ActorCtx, input: { name: unknown; role: unknown }) {
  const { actor } = ctx;
  requireRole(actor, "ADMIN");
  if (!actor.userId) throw new ConflictError("Tokens belong to a user");
  const name = parseField("name", tokenNameSchema, input.name);
  const role = lowerRole(parseField("role", roleSchema, input.role), actor.role);
  const secret = `tw_${randomCode(40)}`;
  const userId = actor.userId;
  publish(
    await withTransaction(ctx, async (tx) => {
      const id = randomUUID();
      await tx.insert(apiTokens).values({ id, organizationId: actor.organizationId, userId, name, prefix: secret.slice(0, 8), tokenHash: sha256(secret), role, createdAt: new Date() });
      return recordAudit(tx, actor, { action: "token.create", target: { type: "token", id, label: name }, detail: { role, prefix: secret.slice(0, 8) } });
    }),
  );
  return { secret, name, role };
}

export async function listApiTokens({ db, actor }: ActorCtx) {
  requireRole(actor, "ADMIN");
  return db
    .select({ id: apiTokens.id, name: apiTokens.name, prefix: apiTokens.prefix, role: apiTokens.role, owner: user.email, createdAt: apiTokens.createdAt, lastUsedAt: apiTokens.lastUsedAt, revokedAt: apiTokens.revokedAt })
    .from(apiTokens)
    .innerJoin(user, eq(user.id, apiTokens.userId))
    .where(eq(apiTokens.organizationId, actor.organizationId))
    .orderBy(desc(apiTokens.createdAt));
}

export async function revokeApiToken(ctx: ActorCtx, id: unknown) {
  const { actor } = ctx;
  requireRole(actor, "ADMIN");
  const tokenId = parse(z.string().uuid("Not a token id"), id);
  publish(
    await withTransaction(ctx, async (tx) => {
      const [revoked] = await tx
        .update(apiTokens)
        .set({ revokedAt: new Date() })
        .where(and(eq(apiTokens.id, tokenId), eq(apiTokens.organizationId, actor.organizationId), isNull(apiTokens.revokedAt)))
        .returning({ name: apiTokens.name, role: apiTokens.role });
      if (!revoked) throw new NotFoundError("Token");
      return recordAudit(tx, actor, { action: "token.revoke", target: { type: "token", id: tokenId, label: revoked.name }, detail: { role: revoked.role } });
    }),
  );
}

/**
 * The actor a bearer token stands for: its organization, and the lower of its own role and
 * its owner's current role there (a demoted or removed owner takes the token down with them).
 */
export async function actorForToken(ctx: Ctx, secret: string): Promise<Actor | null> {
  const [row] = await ctx.db
    .select({ token: apiTokens, memberRole: member.role, email: user.email })
    .from(apiTokens)
    .innerJoin(member, and(eq(member.userId, apiTokens.userId), eq(member.organizationId, apiTokens.organizationId)))
    .innerJoin(user, eq(user.id, apiTokens.userId))
    .where(and(eq(apiTokens.tokenHash, sha256(secret)), isNull(apiTokens.revokedAt)))
    .limit(1);
  if (!row) return null;
  const ownerRole = roleSchema.safeParse(row.memberRole);
  if (!ownerRole.success) return null;
  // Recorded later, off this request: a read must not need a write (see token-usage.ts).
  // Inside a caller's transaction there is no process handle to note it on: it is not noted.
  if (!isTx(ctx.db)) noteTokenUse(ctx.db, row.token.id);
  return {
    organizationId: row.token.organizationId,
    userId: row.token.userId,
    role: lowerRole(row.token.role as Role, ownerRole.data),
    label: `${row.email} (token ${row.token.name})`,
    principal: `token:${row.token.id}`,
  };
}
