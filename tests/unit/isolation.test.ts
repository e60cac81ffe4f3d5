import { acceptInvitation, inviteMember } from "../../lib/orgs/invitations";
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { apiTokens, devices, member, orgSettings, tasks } from "../../db/schema";
import { withTransaction } from "../../db/transaction";
import type { Actor } from "../../lib/actor";
import { approveDevice, createDevice, deleteDevice, disableDevice, enableDevice, listDevices, ouNames, renameDevice } from "../../lib/devices/devices";
import {
  actorForToken,
  createApiToken,
  listApiTokens,
  listMembers,
  removeMember,
  revokeApiToken,
  rotateRegistrationToken,
  setAutoApprove,
  setMemberRole,
} from "../../lib/orgs/orgs";
import { issueFanout } from "../../lib/tasks/issue";
import { activeFanouts } from "../../lib/tasks/fanout-queries";
import { getTask, listTasks, pageTasks } from "../../lib/tasks/queries";
import { cancelTask, rerunTask } from "../../lib/tasks/verbs";
import { freshDb } from "../support/db";
import { actorAs, makeDevices, makeOrg, makeUser } from "../support/factories";
import { capture, countFanouts, countTasks, expectDomainError, taskByCode, taskInStatus } from "./helpers";

const db = await freshDb();

/** Two organizations with a device of the same name each and tasks in A. */
async function twoOrgs() {
  const a = await makeOrg(db);
  const b = await makeOrg(db);
  const [devA] = await makeDevices(db, a.org.id, 1, { prefix: "shared" });
  const [devB] = await makeDevices(db, b.org.id, 1, { prefix: "shared" });
  expect(devB.name).toBe(devA.name);
  const pending = await taskInStatus(db, a.actor, devA.name, "PENDING");
  const done = await taskInStatus(db, a.actor, devA.name, "COMPLETED");
  const fan = await issueFanout({ db, actor: a.actor }, { type: "SYNC", targets: { all: true } });
  return { a, b, devA, devB, pending, done, fanout: fan.fanout };
}

describe("organizations are isolated", () => {
  test("org B cannot see org A's task: not_found", async () => {
    const { b, pending, done } = await twoOrgs();
    await expectDomainError(() => getTask({ db, actor: b.actor }, pending.code), "not_found");
    await expectDomainError(() => getTask({ db, actor: b.actor }, done.code), "not_found");
  });

  test("org B cannot cancel org A's task: not_found, and it stays PENDING", async () => {
    const { b, pending } = await twoOrgs();
    const { events } = await capture(() => expectDomainError(() => cancelTask({ db, actor: b.actor }, pending.code), "not_found"));
    expect(events).toEqual([]);
    expect((await taskByCode(db, pending.code))).toEqual(pending);
  });

  test("org B cannot re-run org A's task: not_found, nothing created", async () => {
    const { b, done } = await twoOrgs();
    const before = { tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) };
    await expectDomainError(() => rerunTask({ db, actor: b.actor }, done.code), "not_found");
    expect({ tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) }).toEqual(before);
    expect((await db.select().from(tasks).where(eq(tasks.rerunOf, done.code)))).toEqual([]);
  });

  test("the not_found for another org's task reads the same as for a code nobody has", async () => {
    const { b, pending } = await twoOrgs();
    const foreign = await expectDomainError(() => getTask({ db, actor: b.actor }, pending.code), "not_found");
    expect(foreign.message).toBe(`Task ${pending.code} was not found`);
  });

  test("listTasks and pageTasks of B never show A's tasks, under any filter", async () => {
    const { a, b, devA, fanout } = await twoOrgs();
    const bTask = await taskInStatus(db, b.actor, devA.name, "PENDING");
    const aCodes = new Set((await listTasks({ db, actor: a.actor }, { limit: 100 })).items.map((t) => t.code));
    expect(aCodes.size).toBeGreaterThan(0);

    for (const filter of [{}, { device: devA.name }, { type: "SYNC" }, { status: "PENDING" }, { status: "COMPLETED" }, { fanout }]) {
      const list = await listTasks({ db, actor: b.actor }, { filter, limit: 100 });
      const page = await pageTasks({ db, actor: b.actor }, { filter, page: 1, perPage: 100 });
      for (const item of [...list.items, ...page.items]) {
        expect(aCodes.has(item.code)).toBe(false);
        expect(item.organization).toBe(b.org.name);
      }
      expect(page.total).toBe(page.items.length);
    }
    expect((await listTasks({ db, actor: b.actor }, {})).items.map((t) => t.code)).toEqual([bTask.code]);
    expect((await pageTasks({ db, actor: b.actor }, { page: 1, perPage: 10 })).total).toBe(1);
    // A's fan-out code in B's filter matches nothing, not A's tasks.
    expect((await listTasks({ db, actor: b.actor }, { filter: { fanout } })).items).toEqual([]);
    expect((await pageTasks({ db, actor: b.actor }, { filter: { fanout }, page: 1, perPage: 10 })).total).toBe(0);
  });

  test("getTask reruns never list another org's tasks", async () => {
    const { a, b, done } = await twoOrgs();
    const rerun = await rerunTask({ db, actor: a.actor }, done.code);
    expect((await getTask({ db, actor: a.actor }, done.code)).reruns.map((r) => r.code)).toEqual([rerun.tasks[0].code]);
    await expectDomainError(() => getTask({ db, actor: b.actor }, rerun.tasks[0].code), "not_found");
  });

  test("activeFanouts of B does not include A's fan-outs", async () => {
    const { a, b, fanout } = await twoOrgs();
    await makeDevices(db, a.org.id, 2);
    const big = (await issueFanout({ db, actor: a.actor }, { type: "SYNC", targets: { all: true } })).fanout;
    expect((await activeFanouts({ db, actor: a.actor })).map((f) => f.code)).toContain(big);
    const seen = (await activeFanouts({ db, actor: b.actor })).map((f) => f.code);
    expect(seen).not.toContain(big);
    expect(seen).not.toContain(fanout);
  });

  test("the OU names the forms offer are the organization's own, in order, each once", async () => {
    const { a, b } = await twoOrgs();
    await makeDevices(db, a.org.id, 2, { prefix: "ou-names", ous: ["zeta-ou", "alpha-ou"] });
    await makeDevices(db, b.org.id, 1, { prefix: "ou-names-b", ous: ["b-only-ou"] });
    const namesOfA = await ouNames({ db }, a.org.id);
    expect(namesOfA.filter((n) => ["alpha-ou", "zeta-ou", "b-only-ou"].includes(n))).toEqual(["alpha-ou", "zeta-ou"]);
    expect(namesOfA).toEqual([...namesOfA].sort());
    expect(await ouNames({ db }, b.org.id)).toContain("b-only-ou");
  });

  test("B cannot target A's devices: a name only resolves within the actor's org", async () => {
    const { a, b } = await twoOrgs();
    const [onlyA] = await makeDevices(db, a.org.id, 1, { prefix: "only-a", ous: ["a-ou"] });
    const before = await countTasks(db);
    await expectDomainError(() => issueFanout({ db, actor: b.actor }, { type: "SYNC", targets: { devices: [onlyA.name] } }), "unprocessable");
    await expectDomainError(() => issueFanout({ db, actor: b.actor }, { type: "SYNC", targets: { ous: ["a-ou"] } }), "unprocessable");
    expect((await countTasks(db))).toBe(before);
  });

  test("B's device verbs on A's device are not_found and change nothing", async () => {
    const { a, b } = await twoOrgs();
    const [d] = await makeDevices(db, a.org.id, 1, { status: "PENDING" });
    const snapshot = (await db.select().from(devices).where(eq(devices.id, d.id)))[0];
    for (const verb of [
      () => approveDevice({ db, actor: b.actor }, d.id),
      () => disableDevice({ db, actor: b.actor }, d.id),
      () => enableDevice({ db, actor: b.actor }, d.id),
      () => renameDevice({ db, actor: b.actor }, d.id, "stolen"),
      () => deleteDevice({ db, actor: b.actor }, d.id),
    ]) {
      await expectDomainError(verb, "not_found");
    }
    expect((await db.select().from(devices).where(eq(devices.id, d.id)))[0]).toEqual(snapshot);
    expect((await listDevices({ db, actor: b.actor })).map((x) => x.id)).not.toContain(d.id);
    expect((await listDevices({ db, actor: a.actor })).map((x) => x.id)).toContain(d.id);
  });
});

describe("roles", () => {
  test("READ_ONLY is forbidden to issue, cancel and re-run; nothing changes", async () => {
    const { org, actor: admin } = await makeOrg(db);
    const [d] = await makeDevices(db, org.id, 1);
    const pending = await taskInStatus(db, admin, d.name, "PENDING");
    const done = await taskInStatus(db, admin, d.name, "FAILED");
    const ro = actorAs(admin, "READ_ONLY");
    const before = { tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) };
    const { events } = await capture(async () => {
      await expectDomainError(() => issueFanout({ db, actor: ro }, { type: "SYNC", targets: { devices: [d.name] } }), "forbidden");
      await expectDomainError(() => issueFanout({ db, actor: ro }, { type: "SYNC", targets: { all: true } }), "forbidden");
      await expectDomainError(() => cancelTask({ db, actor: ro }, pending.code), "forbidden");
      await expectDomainError(() => rerunTask({ db, actor: ro }, done.code), "forbidden");
    });
    expect(events).toEqual([]);
    expect({ tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) }).toEqual(before);
    expect((await taskByCode(db, pending.code))).toEqual(pending);
    // But it can read.
    expect((await getTask({ db, actor: ro }, pending.code)).code).toBe(pending.code);
    expect((await listTasks({ db, actor: ro }, {})).items.map((t) => t.code)).toEqual([done.code, pending.code]);
  });

  test("a real READ_ONLY member (from the factory) is forbidden too", async () => {
    const { org, actor: ro } = await makeOrg(db, { role: "READ_ONLY" });
    const [d] = await makeDevices(db, org.id, 1);
    const before = await countTasks(db);
    await expectDomainError(() => issueFanout({ db, actor: ro }, { type: "SYNC", targets: { devices: [d.name] } }), "forbidden");
    expect((await countTasks(db))).toBe(before);
  });

  test("READ_ONLY is forbidden every device verb; nothing changes", async () => {
    const { org, actor: admin } = await makeOrg(db);
    const ro = actorAs(admin, "READ_ONLY");
    const [pending] = await makeDevices(db, org.id, 1, { status: "PENDING" });
    const [enabled] = await makeDevices(db, org.id, 1);
    const [disabled] = await makeDevices(db, org.id, 1, { status: "DISABLED" });
    const task = await taskInStatus(db, admin, enabled.name, "PENDING");
    const snapshot = async () => (await db.select().from(devices).where(eq(devices.organizationId, org.id)));
    const before = await snapshot();
    const { events } = await capture(async () => {
      await expectDomainError(() => approveDevice({ db, actor: ro }, pending.id), "forbidden");
      await expectDomainError(() => enableDevice({ db, actor: ro }, disabled.id), "forbidden");
      await expectDomainError(() => disableDevice({ db, actor: ro }, enabled.id), "forbidden");
      await expectDomainError(() => renameDevice({ db, actor: ro }, enabled.id, "renamed-by-ro"), "forbidden");
      await expectDomainError(() => deleteDevice({ db, actor: ro }, enabled.id), "forbidden");
    });
    expect(events).toEqual([]);
    expect((await snapshot())).toEqual(before);
    expect((await taskByCode(db, task.code))).toEqual(task);
  });

  test("READ_WRITE can issue, cancel and manage devices", async () => {
    const { org, actor: rw } = await makeOrg(db, { role: "READ_WRITE" });
    const [d] = await makeDevices(db, org.id, 1);
    const res = await issueFanout({ db, actor: rw }, { type: "SYNC", targets: { devices: [d.name] } });
    expect((await cancelTask({ db, actor: rw }, res.tasks[0].code)).status).toBe("CANCELLED");
    expect((await rerunTask({ db, actor: rw }, res.tasks[0].code)).total).toBe(1);
    await renameDevice({ db, actor: rw }, d.id, `${d.name}-x`);
    expect((await db.select().from(devices).where(eq(devices.id, d.id)))[0]!.name).toBe(`${d.name}-x`);
  });

  test("READ_WRITE is forbidden the ADMIN verbs; nothing changes", async () => {
    const { org, actor: admin } = await makeOrg(db);
    const rw = actorAs(admin, "READ_WRITE");
    const settings = async () => (await db.select().from(orgSettings).where(eq(orgSettings.organizationId, org.id)))[0];
    const before = await settings();
    const tokensBefore = await db.select().from(apiTokens).where(eq(apiTokens.organizationId, org.id));
    await expectDomainError(() => createApiToken({ db, actor: rw }, { name: "ci", role: "READ_ONLY" }), "forbidden");
    await expectDomainError(() => setAutoApprove({ db, actor: rw }, true), "forbidden");
    await expectDomainError(() => rotateRegistrationToken({ db, actor: rw }), "forbidden");
    await expectDomainError(() => listApiTokens({ db, actor: rw }), "forbidden");
    await expectDomainError(() => setMemberRole({ db, actor: rw }, { memberId: "whatever", role: "ADMIN" }), "forbidden");
    expect((await settings())).toEqual(before);
    expect((await db.select().from(apiTokens).where(eq(apiTokens.organizationId, org.id)))).toEqual(tokensBefore);
    // The ADMIN can.
    await setAutoApprove({ db, actor: admin }, true);
    expect((await settings())!.autoApprove).toBe(true);
    expect((await createApiToken({ db, actor: admin }, { name: "ci", role: "READ_ONLY" })).role).toBe("READ_ONLY");
  });
});

describe("API tokens", () => {
  /** An org whose owner stays ADMIN, plus a second ADMIN member who owns tokens. */
  async function orgWithSecondAdmin() {
    const { org, actor: owner } = await makeOrg(db);
    const u = await makeUser(db);
    await acceptInvitation({ db }, (await inviteMember({ db, actor: owner }, { email: u.email, role: "ADMIN" })).secret, { userId: u.id, email: u.email });
    const second: Actor = { organizationId: org.id, userId: u.id, role: "ADMIN", label: u.email };
    const memberId = (await listMembers({ db, actor: owner })).find((m) => m.userId === u.id)!.id;
    return { org, owner, second, memberId };
  }

  test.each([
    ["ADMIN", "ADMIN", "ADMIN"],
    ["ADMIN", "READ_WRITE", "READ_WRITE"],
    ["ADMIN", "READ_ONLY", "READ_ONLY"],
    ["READ_WRITE", "ADMIN", "READ_WRITE"],
    ["READ_WRITE", "READ_WRITE", "READ_WRITE"],
    ["READ_WRITE", "READ_ONLY", "READ_ONLY"],
    ["READ_ONLY", "ADMIN", "READ_ONLY"],
    ["READ_ONLY", "READ_WRITE", "READ_ONLY"],
  ] as const)("token role %s with owner now %s acts as %s", async (tokenRole, ownerRole, expected) => {
    const { org, owner, second, memberId } = await orgWithSecondAdmin();
    const { secret, role } = await createApiToken({ db, actor: second }, { name: "t", role: tokenRole });
    expect(role).toBe(tokenRole);
    if (ownerRole !== "ADMIN") await setMemberRole({ db, actor: owner }, { memberId, role: ownerRole });
    const actor = await actorForToken({ db }, secret);
    expect(actor).toEqual({ organizationId: org.id, userId: second.userId, role: expected, label: `${second.label} (token t)`, principal: expect.stringMatching(/^token:/) });
  });

  test("a token's actor is bound by its role in the domain verbs", async () => {
    const { org, actor: owner } = await makeOrg(db);
    const [d] = await makeDevices(db, org.id, 1);
    const ro = (await actorForToken({ db }, (await createApiToken({ db, actor: owner }, { name: "ro", role: "READ_ONLY" })).secret))!;
    await expectDomainError(() => issueFanout({ db, actor: ro }, { type: "SYNC", targets: { devices: [d.name] } }), "forbidden");
    const rw = (await actorForToken({ db }, (await createApiToken({ db, actor: owner }, { name: "rw", role: "READ_WRITE" })).secret))!;
    expect((await issueFanout({ db, actor: rw }, { type: "SYNC", targets: { devices: [d.name] } })).total).toBe(1);
    await expectDomainError(() => createApiToken({ db, actor: rw }, { name: "escalate", role: "ADMIN" }), "forbidden");
  });

  test("a revoked token yields null", async () => {
    const { actor: owner } = await makeOrg(db);
    const { secret } = await createApiToken({ db, actor: owner }, { name: "gone", role: "READ_WRITE" });
    expect(await actorForToken({ db }, secret)).not.toBeNull();
    const id = (await listApiTokens({ db, actor: owner })).find((t) => t.name === "gone")!.id;
    await revokeApiToken({ db, actor: owner }, id);
    expect(await actorForToken({ db }, secret)).toBeNull();
    await expectDomainError(() => revokeApiToken({ db, actor: owner }, id), "not_found");
  });

  test("another org's admin cannot revoke the token", async () => {
    const { actor: owner } = await makeOrg(db);
    const other = await makeOrg(db);
    const { secret } = await createApiToken({ db, actor: owner }, { name: "mine", role: "READ_ONLY" });
    const id = (await listApiTokens({ db, actor: owner })).find((t) => t.name === "mine")!.id;
    await expectDomainError(() => revokeApiToken({ db, actor: other.actor }, id), "not_found");
    expect(await actorForToken({ db }, secret)).not.toBeNull();
    expect((await listApiTokens({ db, actor: other.actor })).map((t) => t.id)).not.toContain(id);
  });

  test("a removed member's token yields null", async () => {
    const { owner, second, memberId } = await orgWithSecondAdmin();
    const { secret } = await createApiToken({ db, actor: second }, { name: "leaver", role: "ADMIN" });
    expect((await actorForToken({ db }, secret))?.role).toBe("ADMIN");
    await removeMember({ db, actor: owner }, memberId);
    expect(await actorForToken({ db }, secret)).toBeNull();
  });

  test("a token whose owner has no membership row yields null even unrevoked", async () => {
    const { second, memberId } = await orgWithSecondAdmin();
    const { secret } = await createApiToken({ db, actor: second }, { name: "orphan", role: "ADMIN" });
    await withTransaction({ db }, async (tx) => {
      await tx.delete(member).where(eq(member.id, memberId));
    });
    expect(await actorForToken({ db }, secret)).toBeNull();
  });

  test("an unknown secret yields null; the secret is stored only as a hash", async () => {
    const { org, actor: owner } = await makeOrg(db);
    const { secret } = await createApiToken({ db, actor: owner }, { name: "h", role: "READ_ONLY" });
    expect(await actorForToken({ db }, `${secret}x`)).toBeNull();
    expect(await actorForToken({ db }, `tw_${randomUUID()}`)).toBeNull();
    const rows = await db.select().from(apiTokens).where(eq(apiTokens.organizationId, org.id));
    expect(rows).toHaveLength(1);
    expect(rows[0].tokenHash).not.toContain(secret);
    expect(JSON.stringify(rows)).not.toContain(secret);
  });

  test("the last ADMIN cannot be demoted or removed", async () => {
    const { actor: owner } = await makeOrg(db);
    const ownerMember = (await listMembers({ db, actor: owner })).find((m) => m.userId === owner.userId)!;
    await expectDomainError(() => setMemberRole({ db, actor: owner }, { memberId: ownerMember.id, role: "READ_ONLY" }), "conflict");
    await expectDomainError(() => removeMember({ db, actor: owner }, ownerMember.id), "conflict");
    expect((await listMembers({ db, actor: owner })).find((m) => m.id === ownerMember.id)!.role).toBe("ADMIN");
  });
});

test("createDevice in one org does not collide with a same-named device in another", async () => {
  const a = await makeOrg(db);
  const b = await makeOrg(db);
  await createDevice({ db }, { organizationId: a.org.id, name: "edge-1", status: "ENABLED" });
  expect((await createDevice({ db }, { organizationId: b.org.id, name: "edge-1", status: "ENABLED" })).organizationId).toBe(b.org.id);
});
