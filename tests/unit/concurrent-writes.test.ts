// The same write sent several times at once: a double click, an agent that retries its
// enrollment, two admins on two nodes. SQLite runs write transactions one after another;
// PostgreSQL runs them side by side, and a check read before a write may already be stale
// when the write lands. Each answer must still be one of the domain's: the first wins, the
// others are told why, and nothing is written twice.
import { randomBytes } from "node:crypto";
import { and, asc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, test } from "vitest";
import { setDb } from "../../db/client";
import { auditEvents, devices, fanouts, invitation, member, ous, organization, orgSettings, schedules, tasks, user } from "../../db/schema";
import { DomainError, type ErrorCode } from "../../lib/errors";
import { approveDevice, createDevice, disableDevice, renameDevice } from "../../lib/devices/devices";
import { enrollDevice, NAME_TAKEN } from "../../lib/devices/enrollment";
import { acceptInvitation, inviteMember } from "../../lib/orgs/invitations";
import { createOrganization, setRetention, setupInstance } from "../../lib/orgs/orgs";
import { createSchedule, deleteSchedule, setScheduleEnabled } from "../../lib/schedules/schedules";
import { recordAgentMoves } from "../../lib/tasks/agent-verbs";
import { findFanout } from "../../lib/tasks/fanout-queries";
import { retryFanout } from "../../lib/tasks/fanout-verbs";
import { issueFanout } from "../../lib/tasks/issue";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg, makeUser } from "../support/factories";

const db = await freshDb();
beforeAll(() => {
  process.env.BETTER_AUTH_SECRET ??= randomBytes(32).toString("base64url");
  delete (globalThis as Record<symbol, unknown>)[Symbol.for("taskwire.auth")];
  setDb(db);
});

/** As many at once as the pool has connections, less one for the test's own reads. */
const AT_ONCE = 8;

/** Runs `write` AT_ONCE times at once; each outcome is a value or the domain error's code and message. */
async function atOnce<T>(write: (i: number) => Promise<T>) {
  const settled = await Promise.allSettled(Array.from({ length: AT_ONCE }, (_, i) => write(i)));
  const done = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const refused = settled.flatMap((s) => {
    if (s.status === "fulfilled") return [];
    // Anything but a domain error is what a person or an agent must never see.
    if (!(s.reason instanceof DomainError)) throw s.reason;
    return [{ code: s.reason.code, message: s.reason.message }];
  });
  return { done, refused };
}

const expectRefusals = (refused: { code: ErrorCode; message: string }[], n: number, code: ErrorCode, message: string) =>
  expect(refused).toEqual(Array.from({ length: n }, () => ({ code, message })));

describe("the same write at once", () => {
  test("devices created with the same new OU: every device is made, the OU once", async () => {
    const { org } = await makeOrg(db);
    const { done, refused } = await atOnce((i) => createDevice({ db }, { organizationId: org.id, name: `branch-${i}`, status: "ENABLED", ous: ["Branches", `Row ${i % 2}`] }));
    expect(refused).toEqual([]);
    expect(done).toHaveLength(AT_ONCE);
    const made = await db.select({ name: ous.name }).from(ous).where(eq(ous.organizationId, org.id));
    expect(made.map((o) => o.name).sort()).toEqual(["Branches", "Row 0", "Row 1"]);
  });

  test("devices created under one name: one is made, the others are told the name is taken", async () => {
    const { org } = await makeOrg(db);
    const { done, refused } = await atOnce(() => createDevice({ db }, { organizationId: org.id, name: "edge-1", ous: ["Edge"] }));
    expect(done).toHaveLength(1);
    expectRefusals(refused, AT_ONCE - 1, "conflict", "A device named edge-1 already exists");
    expect(await db.select({ id: devices.id }).from(devices).where(eq(devices.organizationId, org.id))).toHaveLength(1);
  });

  test("an agent's enrollment sent again while the first is written: one device, the rest told the name is taken", async () => {
    const { org } = await makeOrg(db);
    const [settings] = await db.select().from(orgSettings).where(eq(orgSettings.organizationId, org.id));
    const { done, refused } = await atOnce(() => enrollDevice({ db }, { registration_token: settings.registrationToken, name: "fw-retry", version: "1.0.0" }));
    expect(done).toHaveLength(1);
    expectRefusals(refused, AT_ONCE - 1, "conflict", NAME_TAKEN);
    expect(await db.select({ id: devices.id }).from(devices).where(eq(devices.organizationId, org.id))).toHaveLength(1);
  });

  test("devices renamed to one name: one takes it, the others keep theirs", async () => {
    const { org, actor } = await makeOrg(db);
    const made = await makeDevices(db, org.id, AT_ONCE, { prefix: "old" });
    const { done, refused } = await atOnce((i) => renameDevice({ db, actor }, made[i].id, "core-1"));
    expect(done).toHaveLength(1);
    expectRefusals(refused, AT_ONCE - 1, "conflict", "A device named core-1 already exists");
    const names = (await db.select({ name: devices.name }).from(devices).where(eq(devices.organizationId, org.id))).map((d) => d.name);
    expect(names.filter((n) => n === "core-1")).toHaveLength(1);
    expect(names.filter((n) => n.startsWith("old-"))).toHaveLength(AT_ONCE - 1);
  });

  test("a waiting device disabled and approved at once: each change starts from what the one before left", async () => {
    const { org, actor } = await makeOrg(db);
    const [device] = await makeDevices(db, org.id, 1, { prefix: "new", status: "PENDING" });
    const { done, refused } = await atOnce((i) => (i % 2 ? approveDevice({ db, actor }, device.id) : disableDevice({ db, actor }, device.id)));
    // Approve then Disable, or Disable alone; every other one is told the status it found.
    expect(done.length).toBeGreaterThanOrEqual(1);
    expect(refused).toHaveLength(AT_ONCE - done.length);
    expect(refused.every((r) => r.code === "conflict" && /^The device is (ENABLED|DISABLED)$/.test(r.message))).toBe(true);
    const trail = await db
      .select({ detail: auditEvents.detail })
      .from(auditEvents)
      .where(and(eq(auditEvents.organizationId, org.id), eq(auditEvents.targetId, device.id)))
      .orderBy(asc(auditEvents.id));
    expect(trail).toHaveLength(done.length);
    const [after] = await db.select({ status: devices.status }).from(devices).where(eq(devices.id, device.id));
    let status: string = "PENDING";
    for (const { detail } of trail) {
      expect((detail as { from: string }).from).toBe(status);
      status = (detail as { to: string }).to;
    }
    expect(after.status).toBe(status);
  });

  test("schedules created under one name: one is made", async () => {
    const { org, actor } = await makeOrg(db);
    const spec = { name: "nightly backup", type: "SYNC", targets: { all: true }, cron: "0 3 * * *", timezone: "UTC" };
    const { done, refused } = await atOnce(() => createSchedule({ db, actor }, spec));
    expect(done).toHaveLength(1);
    expectRefusals(refused, AT_ONCE - 1, "conflict", "A schedule named nightly backup already exists");
    expect(await db.select({ id: schedules.id }).from(schedules).where(eq(schedules.organizationId, org.id))).toHaveLength(1);
  });

  test("organizations created under one slug: one is made", async () => {
    const owner = await makeUser(db);
    const slug = `acme-${randomBytes(4).toString("hex")}`;
    const { done, refused } = await atOnce((i) => createOrganization({ db }, { name: `Acme ${i}`, slug, ownerId: owner.id }));
    expect(done).toHaveLength(1);
    expectRefusals(refused, AT_ONCE - 1, "conflict", `The slug ${slug} is taken`);
    expect(await db.select({ id: organization.id }).from(organization).where(eq(organization.slug, slug))).toHaveLength(1);
  });

  test("an invitation accepted twice at once (a double click): one membership, one audit row", async () => {
    const { org, actor } = await makeOrg(db);
    const person = await makeUser(db);
    const inv = await inviteMember({ db, actor }, { email: person.email, role: "READ_WRITE" });
    const { done, refused } = await atOnce(() => acceptInvitation({ db }, inv.secret, { userId: person.id, email: person.email }));
    expect(done).toHaveLength(1);
    expectRefusals(refused, AT_ONCE - 1, "not_found", "Invitation was not found");
    expect(await db.select({ id: member.id }).from(member).where(and(eq(member.organizationId, org.id), eq(member.userId, person.id)))).toHaveLength(1);
    expect(await db.select({ id: auditEvents.id }).from(auditEvents).where(and(eq(auditEvents.organizationId, org.id), eq(auditEvents.action, "member.add")))).toHaveLength(1);
  });

  test("Retry failed pressed at once: the failed devices get the task once", async () => {
    const { org, actor } = await makeOrg(db);
    const made = await makeDevices(db, org.id, 3);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { devices: made.map((d) => d.name) } });
    const moves = issued.tasks.map((t) => ({ deviceId: made.find((d) => d.name === t.device)!.id, code: t.code }));
    await recordAgentMoves({ db }, moves, []);
    await recordAgentMoves({ db }, [], moves.map((m) => ({ deviceId: m.deviceId, raw: { code: m.code, status: "FAILED", message: "Disk full" } })));
    const { done, refused } = await atOnce(() => retryFanout({ db, actor }, issued.fanout, {}));
    expect(done).toHaveLength(1);
    expectRefusals(refused, AT_ONCE - 1, "unprocessable", "None of the 3 devices with FAILED tasks can take tasks now");
    const source = await findFanout(db, org.id, issued.fanout);
    const retries = await db.select({ id: fanouts.id }).from(fanouts).where(eq(fanouts.retryOf, source.id));
    expect(retries).toHaveLength(1);
    expect(await db.select({ id: tasks.id }).from(tasks).where(eq(tasks.fanoutId, retries[0].id))).toHaveLength(3);
  });

  const auditRows = (organizationId: string, action: string) =>
    db.select({ id: auditEvents.id }).from(auditEvents).where(and(eq(auditEvents.organizationId, organizationId), eq(auditEvents.action, action as never)));

  test("a schedule paused twice at once: paused once, the other told so; deleted twice at once: deleted once", async () => {
    const { org, actor } = await makeOrg(db);
    const s = await createSchedule({ db, actor }, { name: "hourly", type: "SYNC", targets: { all: true }, cron: "0 * * * *", timezone: "UTC" });
    const paused = await atOnce(() => setScheduleEnabled({ db, actor }, s.id, false));
    expect(paused.done).toHaveLength(1);
    expectRefusals(paused.refused, AT_ONCE - 1, "conflict", "Schedule hourly is already paused");
    expect(await auditRows(org.id, "schedule.pause")).toHaveLength(1);
    const deleted = await atOnce(() => deleteSchedule({ db, actor }, s.id));
    expect(deleted.done).toHaveLength(1);
    expectRefusals(deleted.refused, AT_ONCE - 1, "not_found", "Schedule was not found");
    expect(await auditRows(org.id, "schedule.delete")).toHaveLength(1);
  });

  test("one email invited twice at once: one invitation pending", async () => {
    const { org, actor } = await makeOrg(db);
    const { done, refused } = await atOnce(() => inviteMember({ db, actor }, { email: "pat@example.test", role: "READ_ONLY" }));
    expect(refused).toEqual([]);
    expect(done).toHaveLength(AT_ONCE);
    const pending = await db.select({ id: invitation.id }).from(invitation).where(and(eq(invitation.organizationId, org.id), eq(invitation.status, "pending")));
    expect(pending).toHaveLength(1);
  });

  test("the same retention saved twice at once: one change in the audit trail", async () => {
    const { org, actor } = await makeOrg(db);
    const { refused } = await atOnce(() => setRetention({ db, actor }, { task_days: 30, audit_days: 365 }));
    expect(refused).toEqual([]);
    expect(await auditRows(org.id, "org.retention")).toHaveLength(1);
  });

  test("the first setup sent twice at once, by two people: one instance, one admin", async () => {
    const empty = await freshDb();
    const { done, refused } = await atOnce((i) =>
      setupInstance({ db: empty }, { name: `Admin ${i}`, email: `admin-${i}@example.test`, password: "correct horse battery", orgName: `Org ${i}`, orgSlug: `org-${i}` }),
    );
    expect(done).toHaveLength(1);
    expectRefusals(refused, AT_ONCE - 1, "conflict", "Taskwire is already set up: sign in instead");
    expect(await empty.select({ id: user.id }).from(user)).toHaveLength(1);
    expect(await empty.select({ id: organization.id }).from(organization)).toHaveLength(1);
  });
});
