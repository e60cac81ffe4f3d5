// Joining an organization through an invitation: the verbs on a real migrated database.
import { randomBytes } from "node:crypto";
import { and, desc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, test } from "vitest";
import { setDb } from "../../db/client";
import { failingWrites } from "../support/raw";
import { auditEvents, invitation, member, user } from "../../db/schema";
import { acceptInvitation, acceptInvitationAsNewUser, findInvitation, inviteMember, listInvitations, revokeInvitation, INVITATION_DAYS } from "../../lib/orgs/invitations";
import { listMembers, removeMember, setMemberRole, setupInstance } from "../../lib/orgs/orgs";
import { freshDb } from "../support/db";
import { actorAs, makeOrg, makeUser } from "../support/factories";
import { capture, expectDomainError, expectRejectionMatching } from "./helpers";

const db = await freshDb();
beforeAll(() => {
  // Creating an account hashes its password with better-auth's hasher, on this database.
  process.env.BETTER_AUTH_SECRET ??= randomBytes(32).toString("base64url");
  delete (globalThis as Record<symbol, unknown>)[Symbol.for("taskwire.auth")];
  setDb(db);
});

const isMember = async (organizationId: string, email: string) =>
  !!(await db
    .select({ id: member.id })
    .from(member)
    .innerJoin(user, eq(user.id, member.userId))
    .where(and(eq(member.organizationId, organizationId), eq(user.email, email))))[0];

describe("inviting", () => {
  test("an ADMIN invites; nobody joins until the person accepts with their own email", async () => {
    const { org, actor } = await makeOrg(db);
    const person = await makeUser(db);
    const inv = await inviteMember({ db, actor }, { email: person.email.toUpperCase(), role: "READ_WRITE" });
    expect(inv.email).toBe(person.email);
    expect((await isMember(org.id, person.email))).toBe(false);
    expect(await findInvitation({ db }, inv.secret)).toMatchObject({ email: person.email, role: "READ_WRITE", organization: org.name });
    // Only the hash is stored.
    expect(JSON.stringify((await db.select().from(invitation)))).not.toContain(inv.secret);

    await expectDomainError(() => acceptInvitation({ db }, inv.secret, { userId: actor.userId!, email: actor.label }), "unprocessable");
    await acceptInvitation({ db }, inv.secret, { userId: person.id, email: person.email });
    expect((await listMembers({ db, actor })).find((m) => m.email === person.email)?.role).toBe("READ_WRITE");
    // Once.
    await expectDomainError(() => acceptInvitation({ db }, inv.secret, { userId: person.id, email: person.email }), "not_found");
  });

  test("the answer does not depend on whether the email has an account on the instance", async () => {
    const { actor } = await makeOrg(db);
    const someoneElsewhere = (await makeOrg(db)).owner;
    const a = await inviteMember({ db, actor }, { email: someoneElsewhere.email, role: "ADMIN" });
    const b = await inviteMember({ db, actor }, { email: "never-seen@example.test", role: "ADMIN" });
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    expect((await listInvitations({ db, actor })).map((i) => i.email).sort()).toEqual([someoneElsewhere.email, "never-seen@example.test"].sort());
  });

  test("only ADMINs invite and revoke, with a role that is one of the three and a real email", async () => {
    const { actor } = await makeOrg(db);
    await expectDomainError(() => inviteMember({ db, actor: actorAs(actor, "READ_WRITE") }, { email: "x@example.test", role: "READ_ONLY" }), "forbidden");
    await expectDomainError(() => inviteMember({ db, actor }, { email: "x@example.test", role: "owner" }), "invalid");
    await expectDomainError(() => inviteMember({ db, actor }, { email: "not an email", role: "READ_ONLY" }), "invalid");
    await expectDomainError(() => inviteMember({ db, actor }, { email: `${"x".repeat(300)}@example.test`, role: "READ_ONLY" }), "invalid");
    expect(await listInvitations({ db, actor })).toEqual([]);
  });

  test("a new invitation replaces the pending one; revoked, replaced and expired links do not work", async () => {
    const { actor } = await makeOrg(db);
    const person = await makeUser(db);
    const first = await inviteMember({ db, actor }, { email: person.email, role: "READ_ONLY" });
    const second = await inviteMember({ db, actor }, { email: person.email, role: "ADMIN" });
    await expectDomainError(() => findInvitation({ db }, first.secret), "not_found");
    expect(await listInvitations({ db, actor })).toHaveLength(1);
    await revokeInvitation({ db, actor }, (await listInvitations({ db, actor }))[0].id);
    await expectDomainError(() => acceptInvitation({ db }, second.secret, { userId: person.id, email: person.email }), "not_found");

    const later = new Date(Date.now() + (INVITATION_DAYS + 1) * 86_400_000);
    const third = await inviteMember({ db, actor }, { email: person.email, role: "ADMIN" });
    await expectDomainError(() => acceptInvitation({ db }, third.secret, { userId: person.id, email: person.email }, later), "not_found");
    await expectDomainError(() => findInvitation({ db }, "inv_short"), "not_found");
    await expectDomainError(() => findInvitation({ db }, { toString: () => third.secret }), "not_found");
  });

  test("a member of the organization cannot be invited again", async () => {
    const { actor, owner } = await makeOrg(db);
    await expectDomainError(() => inviteMember({ db, actor }, { email: owner.email, role: "READ_ONLY" }), "conflict");
  });
});

describe("a newcomer's account", () => {
  test("is created with the invited email and joins in one step; an existing account must sign in instead", async () => {
    const { org, actor } = await makeOrg(db);
    const inv = await inviteMember({ db, actor }, { email: "newcomer@example.test", role: "READ_ONLY" });
    const bad = await acceptInvitationAsNewUser({ db }, inv.secret, { name: "", password: "short" }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: "invalid" });
    expect((await db.select().from(user).where(eq(user.email, "newcomer@example.test")))[0]).toBeUndefined();

    const joined = await acceptInvitationAsNewUser({ db }, inv.secret, { name: "New Comer", password: "long enough" });
    expect(joined).toMatchObject({ organizationId: org.id, email: "newcomer@example.test", role: "READ_ONLY" });
    expect((await isMember(org.id, "newcomer@example.test"))).toBe(true);

    const other = await makeOrg(db);
    const again = await inviteMember({ db, actor: other.actor }, { email: "newcomer@example.test", role: "READ_ONLY" });
    const refused = await acceptInvitationAsNewUser({ db }, again.secret, { name: "Impostor", password: "long enough" }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "conflict" });
    expect((await isMember(other.org.id, "newcomer@example.test"))).toBe(false);
  });
});

describe("roles", () => {
  test("a role change announces the member's access changed; the last ADMIN stays", async () => {
    const { actor, owner, org } = await makeOrg(db);
    const second = await makeUser(db);
    await acceptInvitation({ db }, (await inviteMember({ db, actor }, { email: second.email, role: "ADMIN" })).secret, { userId: second.id, email: second.email });
    const secondId = (await listMembers({ db, actor })).find((m) => m.userId === second.id)!.id;
    const { events } = await capture(() => setMemberRole({ db, actor }, { memberId: secondId, role: "READ_ONLY" }));
    expect(events).toEqual([
      { kind: "access.changed", userId: second.id, organizationId: org.id },
      { kind: "audit.recorded", organizationId: org.id },
    ]);
    const ownerId = (await listMembers({ db, actor })).find((m) => m.userId === owner.id)!.id;
    await expectDomainError(() => setMemberRole({ db, actor }, { memberId: ownerId, role: "READ_ONLY" }), "conflict");
  });
});

describe("an inviter who is no longer ADMIN", () => {
  test.each(["demoted", "removed"] as const)("%s: their pending invitations are revoked with it, and their links no longer work; others' stay", async (change) => {
    const { actor, org } = await makeOrg(db);
    const second = await makeUser(db);
    await acceptInvitation({ db }, (await inviteMember({ db, actor }, { email: second.email, role: "ADMIN" })).secret, { userId: second.id, email: second.email });
    const asSecond = { ...actor, userId: second.id, label: second.email, principal: `user:${second.id}` };
    const accomplice = await makeUser(db);
    const theirs = await inviteMember({ db, actor: asSecond }, { email: accomplice.email, role: "ADMIN" });
    const ours = await inviteMember({ db, actor }, { email: "colleague@example.test", role: "READ_ONLY" });
    const secondId = (await listMembers({ db, actor })).find((m) => m.userId === second.id)!.id;

    if (change === "demoted") await setMemberRole({ db, actor }, { memberId: secondId, role: "READ_WRITE" });
    else await removeMember({ db, actor }, secondId);

    await expectDomainError(() => findInvitation({ db }, theirs.secret), "not_found");
    await expectDomainError(() => acceptInvitation({ db }, theirs.secret, { userId: accomplice.id, email: accomplice.email }), "not_found");
    expect(await isMember(org.id, accomplice.email)).toBe(false);
    expect((await listInvitations({ db, actor })).map((i) => i.email)).toEqual(["colleague@example.test"]);
    expect(await findInvitation({ db }, ours.secret)).toMatchObject({ email: "colleague@example.test" });
    // The trail says so.
    const [row] = await db.select().from(auditEvents).where(and(eq(auditEvents.organizationId, org.id), eq(auditEvents.action, change === "demoted" ? "member.role" : "member.remove"))).orderBy(desc(auditEvents.id)).limit(1);
    expect(row.detail).toMatchObject({ invitationsRevoked: 1 });
  });
});

describe("setup", () => {
  test("the first ADMIN and organization are made together, once", async () => {
    const fresh = await freshDb();
    const input = { name: "Ada", email: "ada@example.test", password: "long enough", orgName: "First", orgSlug: "first" };
    // A bad slug leaves no user behind (the two used to be written apart).
    const bad = await setupInstance({ db: fresh }, { ...input, orgSlug: "Not A Slug" }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: "invalid" });
    expect((await fresh.select().from(user))).toEqual([]);
    // A failure between the two writes (the user is stored, the organization is refused by
    // the database) leaves neither: /setup stays open.
    const writable = await failingWrites(fresh, "organization", "INSERT", "disk full");
    await expectRejectionMatching(setupInstance({ db: fresh }, input), /disk full/);
    expect((await fresh.select().from(user))).toEqual([]);
    await writable();
    await setupInstance({ db: fresh }, input);
    expect((await fresh.select().from(user))).toHaveLength(1);
    const twice = await setupInstance({ db: fresh }, { ...input, email: "other@example.test", orgSlug: "second" }).catch((e: unknown) => e);
    expect(twice).toMatchObject({ code: "conflict" });
  });
});
