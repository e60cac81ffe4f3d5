// The audit trail of people's actions, on a real migrated database: every write a person or a
// token makes leaves exactly one row, in the transaction of the change; the database refuses
// to change a row; reading it is for ADMINs of its organization only.
import { randomBytes } from "node:crypto";
import { count, desc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, test } from "vitest";
import { setDb } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import { auditEvents, devices as devicesTable, member, session as sessionTable, tasks } from "../../db/schema";
import type { Actor } from "../../lib/actor";
import { getAuth } from "../../lib/auth/auth";
import { insertUser, prepareUser } from "../../lib/auth/users";
import { auditFilterSchema, cancelledBy, listAudit } from "../../lib/audit/queries";
import { approveDevice, deleteDevice, disableDevice, enableDevice, renameDevice } from "../../lib/devices/devices";
import { acceptInvitation, inviteMember, revokeInvitation } from "../../lib/orgs/invitations";
import { createApiToken, createOrganization, setRetention, endMemberSessions, removeMember, revokeApiToken, rotateRegistrationToken, setAutoApprove, setMemberRole } from "../../lib/orgs/orgs";
import { setActiveOrganization } from "../../lib/orgs/session";
import { findFanout } from "../../lib/tasks/fanout-queries";
import { cancelFanoutRest, pauseFanout, resumeFanout, retryFanout } from "../../lib/tasks/fanout-verbs";
import { issueFanout } from "../../lib/tasks/issue";
import { continueFanout } from "../../lib/tasks/rollout";
import { cancelTask, rerunTask } from "../../lib/tasks/verbs";
import { createSchedule, deleteSchedule, setScheduleEnabled, updateSchedule } from "../../lib/schedules/schedules";
import { getTask } from "../../lib/tasks/queries";
import { AUDIT_ACTION_NAMES, type AuditAction } from "../../rules/audit";
import { freshDb } from "../support/db";
import { actorAs, makeDevices, makeOrg, makeUser } from "../support/factories";
import { capture, expectDomainError, expectRejectionMatching, taskInStatus } from "./helpers";
import { failingWrites } from "../support/raw";
import { recordAgentMoves } from "../../lib/tasks/agent-verbs";

const db = await freshDb();
beforeAll(() => {
  process.env.BETTER_AUTH_SECRET ??= randomBytes(32).toString("base64url");
  delete (globalThis as Record<symbol, unknown>)[Symbol.for("taskwire.auth")];
  setDb(db);
});

const ADDRESS = "203.0.113.7";

/** An organization with an ADMIN acting from ADDRESS, and devices. */
async function scene(n = 3) {
  const made = await makeOrg(db);
  const actor: Actor = { ...made.actor, principal: `user:${made.actor.userId}`, address: ADDRESS };
  const fleet = await makeDevices(db, made.org.id, n);
  return { ...made, actor, fleet, ctx: { db, actor } };
}

const rowCount = async () => (await db.select({ n: count() }).from(auditEvents))[0].n;
const lastRow = async () => (await db.select().from(auditEvents).orderBy(desc(auditEvents.id)).limit(1))[0];

/** A member of the scene's organization with a password account, and a second organization of theirs. */
async function person(organizationId: string, role: "READ_ONLY" | "READ_WRITE" | "ADMIN" = "READ_ONLY") {
  const email = `p-${randomBytes(4).toString("hex")}@example.test`;
  const u = await withTransaction({ db }, async (tx) => insertUser(tx, await prepareUser({ email, name: "P", password: "correct-horse-9" })));
  const memberId = crypto.randomUUID();
  await withTransaction({ db }, async (tx) => {
    await tx.insert(member).values({ id: memberId, organizationId, userId: u.id, role, createdAt: new Date() });
  });
  return { ...u, memberId, password: "correct-horse-9" };
}

// Each write a person can make, with what its one row must say. The prelude of each runs
// before counting; only the write itself is counted.
const cases: { action: AuditAction; prepare: () => Promise<() => Promise<{ target?: string | null; org: string }>> }[] = [
  {
    action: "auth.sign_in",
    prepare: async () => {
      const s = await scene(0);
      const p = await person(s.org.id);
      return async () => {
        await getAuth().api.signInEmail({ body: { email: p.email, password: p.password }, headers: new Headers({ "x-forwarded-for": ADDRESS }) });
        return { target: p.email, org: s.org.id };
      };
    },
  },
  {
    action: "auth.sign_in_failed",
    prepare: async () => {
      const s = await scene(0);
      const p = await person(s.org.id);
      return async () => {
        await expectRejectionMatching(getAuth().api.signInEmail({ body: { email: p.email, password: "wrong-password-1" }, headers: new Headers({ "x-forwarded-for": ADDRESS }) }), /Invalid email or password/i);
        return { target: p.email, org: s.org.id };
      };
    },
  },
  {
    action: "org.switch",
    prepare: async () => {
      const s = await scene(0);
      const other = await createOrganization({ db }, { name: "Other", slug: `other-${randomBytes(3).toString("hex")}`, ownerId: s.owner.id });
      return async () => {
        const ok = await setActiveOrganization({ db }, { sessionId: "no-such-session", user: { id: s.owner.id, email: s.owner.email, name: "" }, address: ADDRESS }, other.id);
        expect(ok).toBe(true);
        return { target: "Other", org: other.id };
      };
    },
  },
  {
    action: "org.auto_approve",
    prepare: async () => {
      const s = await scene(0);
      return async () => (await setAutoApprove(s.ctx, true), { org: s.org.id });
    },
  },
  {
    action: "org.retention",
    prepare: async () => {
      const s = await scene(0);
      return async () => (await setRetention(s.ctx, { task_days: 90, audit_days: 365 }), { org: s.org.id });
    },
  },
  {
    action: "org.registration_token",
    prepare: async () => {
      const s = await scene(0);
      return async () => (await rotateRegistrationToken(s.ctx), { org: s.org.id });
    },
  },
  {
    action: "task.issue",
    prepare: async () => {
      const s = await scene(3);
      return async () => {
        const r = await issueFanout(s.ctx, { type: "SYNC", targets: { all: true } });
        return { target: r.fanout, org: s.org.id };
      };
    },
  },
  {
    action: "task.cancel",
    prepare: async () => {
      const s = await scene(1);
      const t = await taskInStatus(db, s.actor, s.fleet[0].name, "PENDING");
      return async () => (await cancelTask(s.ctx, t.code), { target: t.code, org: s.org.id });
    },
  },
  {
    action: "task.rerun",
    prepare: async () => {
      const s = await scene(1);
      const t = await taskInStatus(db, s.actor, s.fleet[0].name, "FAILED");
      return async () => (await rerunTask(s.ctx, t.code), { target: t.code, org: s.org.id });
    },
  },
  ...(["fanout.pause", "fanout.resume", "fanout.cancel_rest"] as const).map((action) => ({
    action,
    prepare: async () => {
      const s = await scene(3);
      const r = await issueFanout(s.ctx, { type: "SYNC", targets: { all: true } });
      if (action === "fanout.resume") await pauseFanout(s.ctx, r.fanout);
      return async () => {
        if (action === "fanout.pause") await pauseFanout(s.ctx, r.fanout);
        if (action === "fanout.resume") await resumeFanout(s.ctx, r.fanout);
        if (action === "fanout.cancel_rest") expect((await cancelFanoutRest(s.ctx, r.fanout)).cancelled).toBe(3);
        return { target: r.fanout, org: s.org.id };
      };
    },
  })),
  {
    action: "fanout.retry",
    prepare: async () => {
      const s = await scene(2);
      const r = await issueFanout(s.ctx, { type: "SYNC", targets: { all: true } });
      const pending = await db.select({ code: tasks.code, deviceId: tasks.deviceId }).from(tasks).where(eq(tasks.organizationId, s.org.id));
      await recordAgentMoves({ db }, pending, []);
      await recordAgentMoves({ db }, [], pending.map((t) => ({ deviceId: t.deviceId, raw: { code: t.code, status: "FAILED", message: "Disk full" } })));
      return async () => (await retryFanout(s.ctx, r.fanout, {}), { target: r.fanout, org: s.org.id });
    },
  },
  {
    action: "fanout.continue",
    prepare: async () => {
      const s = await scene(2);
      const r = await issueFanout(s.ctx, { type: "SYNC", targets: { all: true }, rollout: { canary: 1, waves: "rest", between_waves: "continue" } });
      const canary = await db.select({ code: tasks.code, deviceId: tasks.deviceId }).from(tasks).where(eq(tasks.status, "PENDING"));
      await recordAgentMoves({ db }, canary, []);
      await recordAgentMoves({ db }, [], canary.map((t) => ({ deviceId: t.deviceId, raw: { code: t.code, status: "COMPLETED", message: "ok" } })));
      const { advanceRollout } = await import("../../lib/tasks/rollout");
      await advanceRollout({ db }, (await findFanout(db, s.org.id, r.fanout)).id);
      return async () => (await continueFanout(s.ctx, r.fanout), { target: r.fanout, org: s.org.id });
    },
  },
  ...(["device.approve", "device.enable", "device.disable", "device.rename", "device.delete"] as const).map((action) => ({
    action,
    prepare: async () => {
      const s = await scene(0);
      const [d] = await makeDevices(db, s.org.id, 1, { status: action === "device.approve" ? "PENDING" : action === "device.enable" ? "DISABLED" : "ENABLED" });
      return async () => {
        if (action === "device.approve") await approveDevice(s.ctx, d.id);
        if (action === "device.enable") await enableDevice(s.ctx, d.id);
        if (action === "device.disable") await disableDevice(s.ctx, d.id);
        if (action === "device.rename") await renameDevice(s.ctx, d.id, `${d.name}-renamed`);
        if (action === "device.delete") await deleteDevice(s.ctx, d.id);
        return { target: action === "device.rename" ? `${d.name}-renamed` : d.name, org: s.org.id };
      };
    },
  })),
  {
    action: "member.invite",
    prepare: async () => {
      const s = await scene(0);
      return async () => (await inviteMember(s.ctx, { email: "new@example.test", role: "READ_WRITE" }), { target: "new@example.test", org: s.org.id });
    },
  },
  {
    action: "member.invite_revoke",
    prepare: async () => {
      const s = await scene(0);
      await inviteMember(s.ctx, { email: "gone@example.test", role: "READ_WRITE" });
      const [inv] = await db.query.invitation.findMany({ where: (i, { eq }) => eq(i.organizationId, s.org.id) });
      return async () => (await revokeInvitation(s.ctx, inv.id), { target: "gone@example.test", org: s.org.id });
    },
  },
  {
    action: "member.add",
    prepare: async () => {
      const s = await scene(0);
      const u = await makeUser(db);
      const inv = await inviteMember(s.ctx, { email: u.email, role: "READ_ONLY" });
      return async () => (await acceptInvitation({ db }, inv.secret, { userId: u.id, email: u.email, address: ADDRESS }), { target: u.email, org: s.org.id });
    },
  },
  ...(["member.role", "member.remove", "member.sign_out"] as const).map((action) => ({
    action,
    prepare: async () => {
      const s = await scene(0);
      const p = await person(s.org.id);
      return async () => {
        if (action === "member.role") await setMemberRole(s.ctx, { memberId: p.memberId, role: "READ_WRITE" });
        if (action === "member.remove") await removeMember(s.ctx, p.memberId);
        if (action === "member.sign_out") await endMemberSessions(s.ctx, p.memberId);
        return { target: p.email, org: s.org.id };
      };
    },
  })),
  ...(["schedule.create", "schedule.update", "schedule.pause", "schedule.resume", "schedule.delete"] as const).map((action) => ({
    action,
    prepare: async () => {
      const s = await scene(1);
      const spec = { name: "nightly", type: "BACKUP", targets: { all: true }, cron: "0 2 * * *", timezone: "Europe/Berlin" };
      const made = action === "schedule.create" ? null : await createSchedule(s.ctx, spec);
      if (action === "schedule.resume") await setScheduleEnabled(s.ctx, made!.id, false);
      return async () => {
        if (action === "schedule.create") await createSchedule(s.ctx, spec);
        if (action === "schedule.update") await updateSchedule(s.ctx, made!.id, { ...spec, cron: "0 3 * * *" });
        if (action === "schedule.pause") await setScheduleEnabled(s.ctx, made!.id, false);
        if (action === "schedule.resume") await setScheduleEnabled(s.ctx, made!.id, true);
        if (action === "schedule.delete") await deleteSchedule(s.ctx, made!.id);
        return { target: "nightly", org: s.org.id };
      };
    },
  })),
  {
    action: "token.create",
    prepare: async () => {
      const s = await scene(0);
      return async () => (await createApiToken(s.ctx, { name: "ci", role: "READ_ONLY" }), { target: "ci", org: s.org.id });
    },
  },
  {
    action: "token.revoke",
    prepare: async () => {
      const s = await scene(0);
      await createApiToken(s.ctx, { name: "old", role: "READ_ONLY" });
      const [t] = await db.query.apiTokens.findMany({ where: (t, { eq }) => eq(t.organizationId, s.org.id) });
      return async () => (await revokeApiToken(s.ctx, t.id), { target: "old", org: s.org.id });
    },
  },
];

describe("every write by a person leaves exactly one audit row", () => {
  test("the table covers every action the trail knows", () => {
    // org.create is the instance's first setup, which an instance with users refuses: the
    // setup test (tests/e2e) leaves its row.
    expect(new Set(cases.map((c) => c.action))).toEqual(new Set(AUDIT_ACTION_NAMES.filter((a) => a !== "org.create")));
  });

  test.each(cases)("$action", async ({ action, prepare }) => {
    const act = await prepare();
    const before = await rowCount();
    const { target, org } = await act();
    expect(await rowCount()).toBe(before + 1);
    const row = await lastRow();
    expect(row).toMatchObject({ action, organizationId: org, address: ADDRESS });
    expect(row.actorLabel).toMatch(/@example\.test$/);
    expect(row.actor).toMatch(/^user:/);
    if (target !== undefined) expect([row.targetLabel, row.targetId]).toContain(target);
  });
});

describe("a write refused leaves no row", () => {
  test("a cancel of a finished task, a role change to the same role, a bad token id", async () => {
    const s = await scene(1);
    const done = await taskInStatus(db, s.actor, s.fleet[0].name, "COMPLETED");
    const before = await rowCount();
    await expectDomainError(() => cancelTask(s.ctx, done.code), "conflict");
    await expectDomainError(() => revokeApiToken(s.ctx, crypto.randomUUID()), "not_found");
    await expectDomainError(() => setAutoApprove({ db, actor: actorAs(s.actor, "READ_WRITE") }, true), "forbidden");
    const r = await issueFanout(s.ctx, { type: "SYNC", targets: { all: true } });
    await cancelFanoutRest(s.ctx, r.fanout);
    const afterCancel = await rowCount();
    await expectDomainError(() => cancelFanoutRest(s.ctx, r.fanout), "conflict");
    expect(await rowCount()).toBe(afterCancel);
    expect(afterCancel).toBe(before + 2);
  });
});

describe("ending a member's sessions", () => {
  test("is one transaction with its row: a row that cannot be written ends no session; written, every one ends and each is announced", async () => {
    const s = await scene(0);
    const p = await person(s.org.id);
    const now = new Date();
    await withTransaction({ db }, async (tx) => {
      for (let i = 0; i < 3; i++) await tx.insert(sessionTable).values({ id: `s-${p.id}-${i}`, token: `t-${p.id}-${i}`, userId: p.id, expiresAt: new Date(now.getTime() + 3_600_000), createdAt: now, updatedAt: now });
    });
    const sessionsLeft = async () => (await db.select({ n: count() }).from(sessionTable).where(eq(sessionTable.userId, p.id)))[0].n;
    const restore = await failingWrites(db, "audit_events", "INSERT", "disk full", `NEW.organization_id = '${s.org.id}'`);
    try {
      await expectRejectionMatching(endMemberSessions(s.ctx, p.memberId), /disk full/);
    } finally {
      await restore();
    }
    expect(await sessionsLeft()).toBe(3);
    const { result, events } = await capture(() => endMemberSessions(s.ctx, p.memberId));
    expect(result).toEqual({ ended: 3 });
    expect(await sessionsLeft()).toBe(0);
    expect(events.filter((e) => e.kind === "access.changed").map((e) => (e as { sessionId?: string }).sessionId).sort()).toEqual([0, 1, 2].map((i) => `s-${p.id}-${i}`));
  });
});

describe("the trail is immutable in the database", () => {
  test("an UPDATE or a DELETE of a row is refused", async () => {
    const s = await scene(0);
    await setAutoApprove(s.ctx, true);
    const row = await lastRow();
    await expectRejectionMatching(
      withTransaction({ db }, (tx) => tx.update(auditEvents).set({ actorLabel: "someone else" }).where(eq(auditEvents.id, row.id))),
      /audit_immutable/,
    );
    await expectRejectionMatching(withTransaction({ db }, (tx) => tx.delete(auditEvents).where(eq(auditEvents.id, row.id))), /audit_immutable/);
    expect(await lastRow()).toEqual(row);
  });
});

describe("reading the trail", () => {
  test("only ADMINs of the organization; another organization's rows are not there", async () => {
    const a = await scene(0);
    const b = await scene(0);
    await setAutoApprove(a.ctx, true);
    await setAutoApprove(b.ctx, true);
    const mine = await listAudit(a.ctx, {});
    expect(mine.rows.length).toBeGreaterThan(0);
    expect(mine.rows.every((r) => r.organizationId === a.org.id)).toBe(true);
    await expectDomainError(() => listAudit({ db, actor: actorAs(a.actor, "READ_WRITE") }, {}), "forbidden");
  });

  test("filters by action, group, who and target; an unknown action is refused naming the field", async () => {
    const s = await scene(2);
    await setAutoApprove(s.ctx, true);
    await renameDevice(s.ctx, s.fleet[0].id, "edge-renamed");
    expect((await listAudit(s.ctx, { action: "device.rename" })).rows.map((r) => r.targetLabel)).toEqual(["edge-renamed"]);
    expect((await listAudit(s.ctx, { action: "org" })).rows.map((r) => r.action)).toEqual(["org.auto_approve"]);
    expect((await listAudit(s.ctx, { target: "edge-ren" })).rows).toHaveLength(1);
    expect((await listAudit(s.ctx, { actor: s.actor.label })).rows.length).toBe(2);
    const bad = auditFilterSchema.safeParse({ action: "device.explode" });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0].path).toEqual(["action"]);
    expect(bad.error!.issues[0].message).toMatch(/^Unknown action/);
  });

  test("the task detail's 'Cancelled by' comes from the trail: a cancel, a fan-out's rest, a device disabled", async () => {
    const s = await scene(2);
    const t = await taskInStatus(db, s.actor, s.fleet[0].name, "PENDING");
    const other: Actor = { ...s.actor, label: "bob@example.test" };
    await cancelTask({ db, actor: other }, t.code);
    expect((await getTask(s.ctx, t.code)).cancelledBy).toBe("bob@example.test");

    const r = await issueFanout(s.ctx, { type: "SYNC", targets: { all: true } });
    await cancelFanoutRest({ db, actor: { ...s.actor, label: "carol@example.test" } }, r.fanout);
    expect((await getTask(s.ctx, r.tasks[1].code)).cancelledBy).toBe("carol@example.test");

    const w = await taskInStatus(db, s.actor, s.fleet[1].name, "PENDING");
    await disableDevice({ db, actor: { ...s.actor, label: "dan@example.test" } }, s.fleet[1].id);
    expect((await getTask(s.ctx, w.code)).cancelledBy).toBe("dan@example.test");
    const [row] = await db.select().from(tasks).where(eq(tasks.code, w.code));
    expect(await cancelledBy({ db }, { ...row, fanoutCode: null })).toBe("dan@example.test");
    expect((await db.select().from(devicesTable).where(eq(devicesTable.id, s.fleet[1].id)))[0].status).toBe("DISABLED");
  });
});
