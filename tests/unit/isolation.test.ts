import { acceptInvitation, inviteMember } from "../../lib/orgs/invitations";
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { apiTokens, devices, member, orgSettings, tasks } from "../../db/schema";
import type { Actor } from "../../lib/auth/actor";
import { approveDevice, createDevice, deleteDevice, disableDevice, enableDevice, listDevices, renameDevice } from "../../lib/devices/devices";
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
import { activeFanouts, getTask, listTasks, pageTasks } from "../../lib/tasks/queries";
import { cancelTask, rerunTask } from "../../lib/tasks/verbs";
import { freshDb } from "../support/db";
import { actorAs, makeDevices, makeOrg, makeUser } from "../support/factories";
import { capture, countFanouts, countTasks, expectDomainError, taskByCode, taskInStatus } from "./helpers";

const db = freshDb();

/** Two organizations with a device of the same name each and tasks in A. */
function twoOrgs() {
  const a = makeOrg(db);
  const b = makeOrg(db);
  const [devA] = makeDevices(db, a.org.id, 1, { prefix: "shared" });
  const [devB] = makeDevices(db, b.org.id, 1, { prefix: "shared" });
  expect(devB.name).toBe(devA.name);
  const pending = taskInStatus(db, a.actor, devA.name, "PENDING");
  const done = taskInStatus(db, a.actor, devA.name, "COMPLETED");
  const fan = issueFanout(db, a.actor, { type: "SYNC", targets: { all: true } });
  return { a, b, devA, devB, pending, done, fanout: fan.fanout };
}

describe("organizations are isolated", () => {
  test("org B cannot see org A's task: not_found", () => {
    const { b, pending, done } = twoOrgs();
    expectDomainError(() => getTask(db, b.actor, pending.code), "not_found");
    expectDomainError(() => getTask(db, b.actor, done.code), "not_found");
  });

  test("org B cannot cancel org A's task: not_found, and it stays PENDING", () => {
    const { b, pending } = twoOrgs();
    const { events } = capture(() => expectDomainError(() => cancelTask(db, b.actor, pending.code), "not_found"));
    expect(events).toEqual([]);
    expect(taskByCode(db, pending.code)).toEqual(pending);
  });

  test("org B cannot re-run org A's task: not_found, nothing created", () => {
    const { b, done } = twoOrgs();
    const before = { tasks: countTasks(db), fanouts: countFanouts(db) };
    expectDomainError(() => rerunTask(db, b.actor, done.code), "not_found");
    expect({ tasks: countTasks(db), fanouts: countFanouts(db) }).toEqual(before);
    expect(db.select().from(tasks).where(eq(tasks.rerunOf, done.code)).all()).toEqual([]);
  });

  test("the not_found for another org's task reads the same as for a code nobody has", () => {
    const { b, pending } = twoOrgs();
    const foreign = expectDomainError(() => getTask(db, b.actor, pending.code), "not_found");
    expect(foreign.message).toBe(`Task ${pending.code} was not found`);
  });

  test("listTasks and pageTasks of B never show A's tasks, under any filter", () => {
    const { a, b, devA, fanout } = twoOrgs();
    const bTask = taskInStatus(db, b.actor, devA.name, "PENDING");
    const aCodes = new Set(listTasks(db, a.actor, { limit: 100 }).items.map((t) => t.code));
    expect(aCodes.size).toBeGreaterThan(0);

    for (const filter of [{}, { device: devA.name }, { type: "SYNC" }, { status: "PENDING" }, { status: "COMPLETED" }, { fanout }]) {
      const list = listTasks(db, b.actor, { filter, limit: 100 });
      const page = pageTasks(db, b.actor, { filter, page: 1, perPage: 100 });
      for (const item of [...list.items, ...page.items]) {
        expect(aCodes.has(item.code)).toBe(false);
        expect(item.organization).toBe(b.org.name);
      }
      expect(page.total).toBe(page.items.length);
    }
    expect(listTasks(db, b.actor, {}).items.map((t) => t.code)).toEqual([bTask.code]);
    expect(pageTasks(db, b.actor, { page: 1, perPage: 10 }).total).toBe(1);
    // A's fan-out code in B's filter matches nothing, not A's tasks.
    expect(listTasks(db, b.actor, { filter: { fanout } }).items).toEqual([]);
    expect(pageTasks(db, b.actor, { filter: { fanout }, page: 1, perPage: 10 }).total).toBe(0);
  });

  test("getTask reruns never list another org's tasks", () => {
    const { a, b, done } = twoOrgs();
    const rerun = rerunTask(db, a.actor, done.code);
    expect(getTask(db, a.actor, done.code).reruns.map((r) => r.code)).toEqual([rerun.tasks[0].code]);
    expectDomainError(() => getTask(db, b.actor, rerun.tasks[0].code), "not_found");
  });

  test("activeFanouts of B does not include A's fan-outs", () => {
    const { a, b, fanout } = twoOrgs();
    makeDevices(db, a.org.id, 2);
    const big = issueFanout(db, a.actor, { type: "SYNC", targets: { all: true } }).fanout;
    expect(activeFanouts(db, a.actor).map((f) => f.code)).toContain(big);
    const seen = activeFanouts(db, b.actor).map((f) => f.code);
    expect(seen).not.toContain(big);
    expect(seen).not.toContain(fanout);
  });

  test("B cannot target A's devices: a name only resolves within the actor's org", () => {
    const { a, b } = twoOrgs();
    const [onlyA] = makeDevices(db, a.org.id, 1, { prefix: "only-a", ous: ["a-ou"] });
    const before = countTasks(db);
    expectDomainError(() => issueFanout(db, b.actor, { type: "SYNC", targets: { devices: [onlyA.name] } }), "unprocessable");
    expectDomainError(() => issueFanout(db, b.actor, { type: "SYNC", targets: { ous: ["a-ou"] } }), "unprocessable");
    expect(countTasks(db)).toBe(before);
  });

  test("B's device verbs on A's device are not_found and change nothing", () => {
    const { a, b } = twoOrgs();
    const [d] = makeDevices(db, a.org.id, 1, { status: "PENDING" });
    const snapshot = db.select().from(devices).where(eq(devices.id, d.id)).get();
    for (const verb of [
      () => approveDevice(db, b.actor, d.id),
      () => disableDevice(db, b.actor, d.id),
      () => enableDevice(db, b.actor, d.id),
      () => renameDevice(db, b.actor, d.id, "stolen"),
      () => deleteDevice(db, b.actor, d.id),
    ]) {
      expectDomainError(verb, "not_found");
    }
    expect(db.select().from(devices).where(eq(devices.id, d.id)).get()).toEqual(snapshot);
    expect(listDevices(db, b.actor).map((x) => x.id)).not.toContain(d.id);
    expect(listDevices(db, a.actor).map((x) => x.id)).toContain(d.id);
  });
});

describe("roles", () => {
  test("READ_ONLY is forbidden to issue, cancel and re-run; nothing changes", () => {
    const { org, actor: admin } = makeOrg(db);
    const [d] = makeDevices(db, org.id, 1);
    const pending = taskInStatus(db, admin, d.name, "PENDING");
    const done = taskInStatus(db, admin, d.name, "FAILED");
    const ro = actorAs(admin, "READ_ONLY");
    const before = { tasks: countTasks(db), fanouts: countFanouts(db) };
    const { events } = capture(() => {
      expectDomainError(() => issueFanout(db, ro, { type: "SYNC", targets: { devices: [d.name] } }), "forbidden");
      expectDomainError(() => issueFanout(db, ro, { type: "SYNC", targets: { all: true } }), "forbidden");
      expectDomainError(() => cancelTask(db, ro, pending.code), "forbidden");
      expectDomainError(() => rerunTask(db, ro, done.code), "forbidden");
    });
    expect(events).toEqual([]);
    expect({ tasks: countTasks(db), fanouts: countFanouts(db) }).toEqual(before);
    expect(taskByCode(db, pending.code)).toEqual(pending);
    // But it can read.
    expect(getTask(db, ro, pending.code).code).toBe(pending.code);
    expect(listTasks(db, ro, {}).items.map((t) => t.code)).toEqual([done.code, pending.code]);
  });

  test("a real READ_ONLY member (from the factory) is forbidden too", () => {
    const { org, actor: ro } = makeOrg(db, { role: "READ_ONLY" });
    const [d] = makeDevices(db, org.id, 1);
    const before = countTasks(db);
    expectDomainError(() => issueFanout(db, ro, { type: "SYNC", targets: { devices: [d.name] } }), "forbidden");
    expect(countTasks(db)).toBe(before);
  });

  test("READ_ONLY is forbidden every device verb; nothing changes", () => {
    const { org, actor: admin } = makeOrg(db);
    const ro = actorAs(admin, "READ_ONLY");
    const [pending] = makeDevices(db, org.id, 1, { status: "PENDING" });
    const [enabled] = makeDevices(db, org.id, 1);
    const [disabled] = makeDevices(db, org.id, 1, { status: "DISABLED" });
    const task = taskInStatus(db, admin, enabled.name, "PENDING");
    const snapshot = () => db.select().from(devices).where(eq(devices.organizationId, org.id)).all();
    const before = snapshot();
    const { events } = capture(() => {
      expectDomainError(() => approveDevice(db, ro, pending.id), "forbidden");
      expectDomainError(() => enableDevice(db, ro, disabled.id), "forbidden");
      expectDomainError(() => disableDevice(db, ro, enabled.id), "forbidden");
      expectDomainError(() => renameDevice(db, ro, enabled.id, "renamed-by-ro"), "forbidden");
      expectDomainError(() => deleteDevice(db, ro, enabled.id), "forbidden");
    });
    expect(events).toEqual([]);
    expect(snapshot()).toEqual(before);
    expect(taskByCode(db, task.code)).toEqual(task);
  });

  test("READ_WRITE can issue, cancel and manage devices", () => {
    const { org, actor: rw } = makeOrg(db, { role: "READ_WRITE" });
    const [d] = makeDevices(db, org.id, 1);
    const res = issueFanout(db, rw, { type: "SYNC", targets: { devices: [d.name] } });
    expect(cancelTask(db, rw, res.tasks[0].code).status).toBe("CANCELLED");
    expect(rerunTask(db, rw, res.tasks[0].code).total).toBe(1);
    renameDevice(db, rw, d.id, `${d.name}-x`);
    expect(db.select().from(devices).where(eq(devices.id, d.id)).get()!.name).toBe(`${d.name}-x`);
  });

  test("READ_WRITE is forbidden the ADMIN verbs; nothing changes", () => {
    const { org, actor: admin } = makeOrg(db);
    const rw = actorAs(admin, "READ_WRITE");
    const settings = () => db.select().from(orgSettings).where(eq(orgSettings.organizationId, org.id)).get();
    const before = settings();
    const tokensBefore = db.select().from(apiTokens).where(eq(apiTokens.organizationId, org.id)).all();
    expectDomainError(() => createApiToken(db, rw, { name: "ci", role: "READ_ONLY" }), "forbidden");
    expectDomainError(() => setAutoApprove(db, rw, true), "forbidden");
    expectDomainError(() => rotateRegistrationToken(db, rw), "forbidden");
    expectDomainError(() => listApiTokens(db, rw), "forbidden");
    expectDomainError(() => setMemberRole(db, rw, { memberId: "whatever", role: "ADMIN" }), "forbidden");
    expect(settings()).toEqual(before);
    expect(db.select().from(apiTokens).where(eq(apiTokens.organizationId, org.id)).all()).toEqual(tokensBefore);
    // The ADMIN can.
    setAutoApprove(db, admin, true);
    expect(settings()!.autoApprove).toBe(true);
    expect(createApiToken(db, admin, { name: "ci", role: "READ_ONLY" }).role).toBe("READ_ONLY");
  });
});

describe("API tokens", () => {
  /** An org whose owner stays ADMIN, plus a second ADMIN member who owns tokens. */
  function orgWithSecondAdmin() {
    const { org, actor: owner } = makeOrg(db);
    const u = makeUser(db);
    acceptInvitation(db, inviteMember(db, owner, { email: u.email, role: "ADMIN" }).secret, { userId: u.id, email: u.email });
    const second: Actor = { organizationId: org.id, userId: u.id, role: "ADMIN", label: u.email };
    const memberId = listMembers(db, owner).find((m) => m.userId === u.id)!.id;
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
  ] as const)("token role %s with owner now %s acts as %s", (tokenRole, ownerRole, expected) => {
    const { org, owner, second, memberId } = orgWithSecondAdmin();
    const { secret, role } = createApiToken(db, second, { name: "t", role: tokenRole });
    expect(role).toBe(tokenRole);
    if (ownerRole !== "ADMIN") setMemberRole(db, owner, { memberId, role: ownerRole });
    const actor = actorForToken(db, secret);
    expect(actor).toEqual({ organizationId: org.id, userId: second.userId, role: expected, label: `${second.label} (token t)`, principal: expect.stringMatching(/^token:/) });
  });

  test("a token's actor is bound by its role in the domain verbs", () => {
    const { org, actor: owner } = makeOrg(db);
    const [d] = makeDevices(db, org.id, 1);
    const ro = actorForToken(db, createApiToken(db, owner, { name: "ro", role: "READ_ONLY" }).secret)!;
    expectDomainError(() => issueFanout(db, ro, { type: "SYNC", targets: { devices: [d.name] } }), "forbidden");
    const rw = actorForToken(db, createApiToken(db, owner, { name: "rw", role: "READ_WRITE" }).secret)!;
    expect(issueFanout(db, rw, { type: "SYNC", targets: { devices: [d.name] } }).total).toBe(1);
    expectDomainError(() => createApiToken(db, rw, { name: "escalate", role: "ADMIN" }), "forbidden");
  });

  test("a revoked token yields null", () => {
    const { actor: owner } = makeOrg(db);
    const { secret } = createApiToken(db, owner, { name: "gone", role: "READ_WRITE" });
    expect(actorForToken(db, secret)).not.toBeNull();
    const id = listApiTokens(db, owner).find((t) => t.name === "gone")!.id;
    revokeApiToken(db, owner, id);
    expect(actorForToken(db, secret)).toBeNull();
    expectDomainError(() => revokeApiToken(db, owner, id), "not_found");
  });

  test("another org's admin cannot revoke the token", () => {
    const { actor: owner } = makeOrg(db);
    const other = makeOrg(db);
    const { secret } = createApiToken(db, owner, { name: "mine", role: "READ_ONLY" });
    const id = listApiTokens(db, owner).find((t) => t.name === "mine")!.id;
    expectDomainError(() => revokeApiToken(db, other.actor, id), "not_found");
    expect(actorForToken(db, secret)).not.toBeNull();
    expect(listApiTokens(db, other.actor).map((t) => t.id)).not.toContain(id);
  });

  test("a removed member's token yields null", () => {
    const { owner, second, memberId } = orgWithSecondAdmin();
    const { secret } = createApiToken(db, second, { name: "leaver", role: "ADMIN" });
    expect(actorForToken(db, secret)?.role).toBe("ADMIN");
    removeMember(db, owner, memberId);
    expect(actorForToken(db, secret)).toBeNull();
  });

  test("a token whose owner has no membership row yields null even unrevoked", () => {
    const { second, memberId } = orgWithSecondAdmin();
    const { secret } = createApiToken(db, second, { name: "orphan", role: "ADMIN" });
    db.delete(member).where(eq(member.id, memberId)).run();
    expect(actorForToken(db, secret)).toBeNull();
  });

  test("an unknown secret yields null; the secret is stored only as a hash", () => {
    const { org, actor: owner } = makeOrg(db);
    const { secret } = createApiToken(db, owner, { name: "h", role: "READ_ONLY" });
    expect(actorForToken(db, `${secret}x`)).toBeNull();
    expect(actorForToken(db, `tw_${randomUUID()}`)).toBeNull();
    const rows = db.select().from(apiTokens).where(eq(apiTokens.organizationId, org.id)).all();
    expect(rows).toHaveLength(1);
    expect(rows[0].tokenHash).not.toContain(secret);
    expect(JSON.stringify(rows)).not.toContain(secret);
  });

  test("the last ADMIN cannot be demoted or removed", () => {
    const { actor: owner } = makeOrg(db);
    const ownerMember = listMembers(db, owner).find((m) => m.userId === owner.userId)!;
    expectDomainError(() => setMemberRole(db, owner, { memberId: ownerMember.id, role: "READ_ONLY" }), "conflict");
    expectDomainError(() => removeMember(db, owner, ownerMember.id), "conflict");
    expect(listMembers(db, owner).find((m) => m.id === ownerMember.id)!.role).toBe("ADMIN");
  });
});

test("createDevice in one org does not collide with a same-named device in another", () => {
  const a = makeOrg(db);
  const b = makeOrg(db);
  createDevice(db, { organizationId: a.org.id, name: "edge-1", status: "ENABLED" });
  expect(createDevice(db, { organizationId: b.org.id, name: "edge-1", status: "ENABLED" }).organizationId).toBe(b.org.id);
});
