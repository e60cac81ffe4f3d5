import { eq } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { deviceOus, fanouts, ous, tasks } from "../../db/schema";
import { withTransaction } from "../../db/transaction";
import { createDevice, deleteDevice, disableDevice } from "../../lib/devices/devices";
import { TTL_SECONDS } from "../../rules/tasks";
import { issueFanout, parsePayload } from "../../lib/tasks/issue";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { capture, countFanouts, countTasks, expectDomainError, taskByCode, transitionsOf } from "./helpers";

const db = await freshDb();

/** An organization with ENABLED, PENDING, DISABLED and deleted devices spread over OUs. */
async function fleet() {
  const { org, actor } = await makeOrg(db);
  const on = (name: string, ous: string[] = []) => createDevice({ db }, { organizationId: org.id, name, status: "ENABLED", ous });
  const e1 = await on("e1", ["east"]);
  const e2 = await on("e2", ["east", "core"]);
  const e3 = await on("e3", ["west"]);
  const e4 = await on("e4");
  const pending = await createDevice({ db }, { organizationId: org.id, name: "p1", status: "PENDING", ous: ["east", "west"] });
  const disabled = await createDevice({ db }, { organizationId: org.id, name: "d1", status: "DISABLED", ous: ["east"] });
  const gone = await on("x1", ["east", "west"]);
  await deleteDevice({ db, actor }, gone.id);
  return { org, actor, e1, e2, e3, e4, pending, disabled, gone };
}

const devicesOf = async (fanoutCode: string) => {
  const fo = (await db.select().from(fanouts).where(eq(fanouts.code, fanoutCode)))[0]!;
  return (await db.select({ deviceId: tasks.deviceId }).from(tasks).where(eq(tasks.fanoutId, fo.id))).map((r) => r.deviceId).sort();
};

describe("target resolution", () => {
  test("an OU takes only its ENABLED live devices", async () => {
    const f = await fleet();
    const res = await issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { ous: ["east"] } });
    expect(res.total).toBe(2);
    expect(res.tasks.map((t) => t.device).sort()).toEqual(["e1", "e2"]);
    expect((await devicesOf(res.fanout))).toEqual([f.e1.id, f.e2.id].sort());
  });

  test("the whole organization takes only ENABLED live devices", async () => {
    const f = await fleet();
    const res = await issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { all: true } });
    expect(res.tasks.map((t) => t.device).sort()).toEqual(["e1", "e2", "e3", "e4"]);
    expect((await devicesOf(res.fanout))).toEqual([f.e1.id, f.e2.id, f.e3.id, f.e4.id].sort());
    const fo = (await db.select().from(fanouts).where(eq(fanouts.code, res.fanout)))[0]!;
    expect(fo).toMatchObject({ organizationId: f.org.id, type: "SYNC", total: 4, target: { all: true } });
  });

  test("a target read a page of 1,000 devices at a time takes each device once: at a page's size, one past it, and with a device's two OU rows across a page's end", async () => {
    const { org, actor } = await makeOrg(db);
    // 1,000 devices in OU "page" (a page's size) and one more in OU "edge" (the organization,
    // or both OUs: one past it).
    const paged = await makeDevices(db, org.id, 1_000, { prefix: "pg", ous: ["page"] });
    const loose = await makeDevices(db, org.id, 1, { prefix: "pg-loose", ous: ["edge"] });
    // OU "half": the 2nd to the 501st of the paged devices in id order. Read through both OUs,
    // a device comes once per OU, in id order: the 501st's two rows are rows 1,000 and 1,001.
    const byId = paged.map((d) => d.id).sort();
    const [half] = await withTransaction({ db }, (tx) => tx.insert(ous).values({ organizationId: org.id, name: "half" }).returning());
    await withTransaction({ db }, (tx) => tx.insert(deviceOus).values(byId.slice(1, 501).map((deviceId) => ({ deviceId, ouId: half.id }))));
    for (const [targets, want] of [
      [{ ous: ["page"] }, byId],
      [{ all: true }, [...byId, loose[0].id].sort()],
      [{ ous: ["page", "edge"] }, [...byId, loose[0].id].sort()],
      [{ ous: ["page", "half"] }, byId],
      [{ ous: ["half"] }, byId.slice(1, 501)],
    ] as const) {
      const res = await issueFanout({ db, actor }, { type: "SYNC", targets });
      expect(await devicesOf(res.fanout), JSON.stringify(targets)).toEqual(want);
    }
  });

  test("a device named twice gets one task", async () => {
    const f = await fleet();
    const res = await issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["e1", "e1", "e3"] } });
    expect(res.total).toBe(2);
    expect((await devicesOf(res.fanout))).toEqual([f.e1.id, f.e3.id].sort());
  });

  test("a device in two named OUs, or named and in a named OU, gets one task", async () => {
    const f = await fleet();
    const res = await issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { ous: ["east", "core", "east"] } });
    expect(res.total).toBe(2);
    expect((await devicesOf(res.fanout))).toEqual([f.e1.id, f.e2.id].sort());
    const mixed = await issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["e2", "e3"], ous: ["core", "west"] } });
    expect(mixed.total).toBe(2);
    expect((await devicesOf(mixed.fanout))).toEqual([f.e2.id, f.e3.id].sort());
  });

  test.each([
    ["an unknown device", { devices: ["e1", "ghost"] }, ["ghost"]],
    ["a DISABLED device", { devices: ["e1", "d1"] }, ["d1"]],
    ["a PENDING device", { devices: ["p1", "e2"] }, ["p1"]],
    ["a deleted device", { devices: ["x1"] }, ["x1"]],
    ["an unknown OU", { ous: ["east", "nowhere"] }, ["nowhere"]],
    ["several bad names", { devices: ["ghost", "e1", "d1"], ous: ["nowhere"] }, ["ghost", "d1", "nowhere"]],
  ])("%s rejects the whole request, names listed, nothing created", async (_what, targets, names) => {
    const f = await fleet();
    const before = { tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) };
    const { result: err, events } = await capture(() => expectDomainError(() => issueFanout({ db, actor: f.actor }, { type: "SYNC", targets }), "unprocessable"));
    for (const n of names) expect(err.message).toContain(n);
    const unresolved = (err.details?.unresolved as { name: string }[]).map((u) => u.name).sort();
    expect(unresolved).toEqual([...names].sort());
    expect(err.fieldErrors?.targets).toBeDefined();
    expect({ tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) }).toEqual(before);
    expect(events).toEqual([]);
  });

  test("the error says why each name does not resolve", async () => {
    const f = await fleet();
    const err = await expectDomainError(() => issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["ghost", "d1", "p1"], ous: ["nowhere"] } }), "unprocessable");
    expect(err.message).toContain("ghost (no such device)");
    expect(err.message).toContain("d1 (device is DISABLED)");
    expect(err.message).toContain("p1 (device is PENDING)");
    expect(err.message).toContain("nowhere (no such OU)");
  });

  test("an all-target with no ENABLED device is refused, nothing created", async () => {
    const { org, actor } = await makeOrg(db);
    await makeDevices(db, org.id, 2, { status: "PENDING" });
    const [d] = await makeDevices(db, org.id, 1);
    await disableDevice({ db, actor }, d.id);
    const before = { tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) };
    const err = await expectDomainError(() => issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } }), "unprocessable");
    expect(err.message).toMatch(/no enabled devices/);
    expect({ tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) }).toEqual(before);
  });

  test("an OU whose devices are all disabled is refused, nothing created", async () => {
    const { org, actor } = await makeOrg(db);
    await makeDevices(db, org.id, 2, { status: "DISABLED", ous: ["dark"] });
    const before = { tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) };
    await expectDomainError(() => issueFanout({ db, actor }, { type: "SYNC", targets: { ous: ["dark"] } }), "unprocessable");
    expect({ tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) }).toEqual(before);
  });

  test("an empty target is invalid", async () => {
    const f = await fleet();
    await expectDomainError(() => issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: {} }), "invalid");
    await expectDomainError(() => issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: [] } }), "invalid");
  });
});

describe("payload validation", async () => {
  const f = await fleet();
  const issue = (type: string, payload: unknown) => issueFanout({ db, actor: f.actor }, { type: type as never, payload, targets: { devices: ["e1"] } });

  test.each([
    ["PING count 0", "PING", { host: "10.0.0.1", count: 0 }, "payload.count"],
    ["PING count 5000", "PING", { host: "10.0.0.1", count: 5000 }, "payload.count"],
    ["PING count 1.5", "PING", { host: "10.0.0.1", count: 1.5 }, "payload.count"],
    ["PING without host", "PING", { count: 3 }, "payload.host"],
    ["PING with an empty host", "PING", { host: "  " }, "payload.host"],
    ["PING with a host that is no host", "PING", { host: "a b; rm -rf" }, "payload.host"],
    ["FIRMWARE_UPGRADE mode patch", "FIRMWARE_UPGRADE", { mode: "patch" }, "payload.mode"],
    ["FIRMWARE_UPGRADE without mode", "FIRMWARE_UPGRADE", {}, "payload.mode"],
    ["PLUGIN_INSTALL with a bad version", "PLUGIN_INSTALL", { targetVersion: "1.0; reboot" }, "payload.targetVersion"],
  ])("%s is invalid, naming the field", async (_what, type, payload, field) => {
    const before = await countTasks(db);
    const err = await expectDomainError(() => issue(type, payload), "invalid");
    expect(Object.keys(err.fieldErrors ?? {})).toContain(field);
    expect(err.message.startsWith(`${field}:`)).toBe(true);
    expect((await countTasks(db))).toBe(before);
  });

  test.each(["SYNC", "PULL", "PUSH", "BACKUP", "RESTART", "REBOOT", "SHUTDOWN"])("%s with a payload key is invalid", async (type) => {
    const before = await countTasks(db);
    const err = await expectDomainError(() => issue(type, { force: true }), "invalid");
    // Unknown keys are reported on the payload itself, naming the key in the message.
    expect(err.fieldErrors).toEqual({ payload: [`${type} takes no force`] });
    expect((await countTasks(db))).toBe(before);
  });

  test("an extra key on PING is invalid", async () => {
    const err = await expectDomainError(() => issue("PING", { host: "h", count: 2, ttl: 5 }), "invalid");
    expect(err.fieldErrors?.payload?.[0]).toContain("ttl");
  });

  test("PING count defaults to 4 and the stored payload is the parsed one", async () => {
    const res = await issue("PING", { host: " 192.0.2.1 " });
    expect((await taskByCode(db, res.tasks[0].code)).payload).toEqual({ host: "192.0.2.1", count: 4 });
    expect(parsePayload("PING", { host: "h", count: "7" })).toEqual({ host: "h", count: 7 });
  });

  test("PING count bounds 1 and 1000 are accepted", async () => {
    expect((await taskByCode(db, (await issue("PING", { host: "h", count: 1 })).tasks[0].code)).payload).toEqual({ host: "h", count: 1 });
    expect((await taskByCode(db, (await issue("PING", { host: "h", count: 1000 })).tasks[0].code)).payload).toEqual({ host: "h", count: 1000 });
  });

  test("types without a payload store null; FIRMWARE_UPGRADE and PLUGIN_INSTALL store theirs", async () => {
    expect((await taskByCode(db, (await issue("SYNC", undefined)).tasks[0].code)).payload).toBeNull();
    expect((await taskByCode(db, (await issue("REBOOT", {})).tasks[0].code)).payload).toBeNull();
    expect((await taskByCode(db, (await issue("FIRMWARE_UPGRADE", { mode: "major" })).tasks[0].code)).payload).toEqual({ mode: "major" });
    expect((await taskByCode(db, (await issue("FIRMWARE_UPGRADE", { mode: "minor" })).tasks[0].code)).payload).toEqual({ mode: "minor" });
    expect((await taskByCode(db, (await issue("PLUGIN_INSTALL", { targetVersion: "1.2.3" })).tasks[0].code)).payload).toEqual({ targetVersion: "1.2.3" });
    expect((await taskByCode(db, (await issue("PLUGIN_INSTALL", {})).tasks[0].code)).payload).toBeNull();
  });

  test("an unknown type is invalid", async () => {
    const err = await expectDomainError(() => issue("FORMAT_DISK", undefined), "invalid");
    expect(Object.keys(err.fieldErrors ?? {})).toContain("type");
  });
});

describe("schedule and time to live", async () => {
  const f = await fleet();
  const now = new Date("2030-01-01T12:00:00.000Z");
  const issue = (extra: { scheduledAt?: Date; ttlSeconds?: number }, at = now) =>
    issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["e1", "e2"] }, ...extra }, at);

  test("a scheduledAt in the past is invalid, nothing created", async () => {
    const before = { tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) };
    const err = await expectDomainError(() => issue({ scheduledAt: new Date(now.getTime() - 60_000) }), "invalid");
    expect(Object.keys(err.fieldErrors ?? {})).toEqual(["scheduledAt"]);
    expect({ tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) }).toEqual(before);
    // And with the real clock, an hour ago.
    await expectDomainError(() => issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["e1"] }, scheduledAt: new Date(Date.now() - 3600_000) }), "invalid");
  });

  test.each([TTL_SECONDS.min - 1, TTL_SECONDS.max + 1, 0, -5])("ttlSeconds %i is invalid", async (ttlSeconds) => {
    const before = await countTasks(db);
    const err = await expectDomainError(() => issue({ ttlSeconds }), "invalid");
    expect(Object.keys(err.fieldErrors ?? {})).toEqual(["ttlSeconds"]);
    expect((await countTasks(db))).toBe(before);
  });

  test.each([TTL_SECONDS.min, TTL_SECONDS.max])("ttlSeconds %i is accepted and sets expiresAt = now + ttl", async (ttlSeconds) => {
    const res = await issue({ ttlSeconds });
    expect(res.tasks).toHaveLength(2);
    for (const t of res.tasks) {
      expect(t.status).toBe("PENDING");
      expect(t.expiresAt.getTime()).toBe(now.getTime() + ttlSeconds * 1000);
      const row = await taskByCode(db, t.code);
      expect((await row).expiresAt.getTime()).toBe(now.getTime() + ttlSeconds * 1000);
      expect((await row).scheduledAt).toBeNull();
      expect((await row).createdAt.getTime()).toBe(now.getTime());
    }
  });

  test("the default time to live is 24 hours", async () => {
    const res = await issue({});
    for (const t of res.tasks) expect(t.expiresAt.getTime()).toBe(now.getTime() + 24 * 3600_000);
  });

  test("a scheduled fan-out is SCHEDULED and expires ttl after its scheduled time", async () => {
    const scheduledAt = new Date(now.getTime() + 2 * 3600_000);
    const res = await issue({ scheduledAt, ttlSeconds: 600 });
    for (const t of res.tasks) {
      expect(t.status).toBe("SCHEDULED");
      const row = await taskByCode(db, t.code);
      expect((await row).status).toBe("SCHEDULED");
      expect((await row).scheduledAt?.getTime()).toBe(scheduledAt.getTime());
      expect((await row).expiresAt.getTime()).toBe(scheduledAt.getTime() + 600_000);
    }
  });

  test("a scheduledAt given as an ISO string is accepted", async () => {
    const scheduledAt = new Date(now.getTime() + 60_000);
    const res = await issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["e1"] }, scheduledAt: scheduledAt.toISOString() as never }, now);
    expect((await taskByCode(db, res.tasks[0].code)).scheduledAt?.getTime()).toBe(scheduledAt.getTime());
  });

  test("an immediate fan-out is PENDING", async () => {
    const res = await issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { ous: ["east"] } });
    expect(res.tasks.map((t) => t.status)).toEqual(["PENDING", "PENDING"]);
    for (const t of res.tasks) expect((await taskByCode(db, t.code))).toMatchObject({ status: "PENDING", scheduledAt: null, startedAt: null, finishedAt: null, message: null });
  });
});

describe("codes and events", () => {
  test("codes are 8 base62 characters, unique over a 2,000-device fan-out; one creation event per task", async () => {
    const { org, actor } = await makeOrg(db);
    await withTransaction({ db }, async (tx) => {
      for (let i = 0; i < 2000; i++) await createDevice({ db: tx }, { organizationId: org.id, name: `big-${i}`, status: "ENABLED", ous: ["big"] });
    });
    const before = await countTasks(db);
    const { result: res, events } = await capture(() => issueFanout({ db, actor }, { type: "PING", payload: { host: "192.0.2.9" }, targets: { ous: ["big"] } }));
    expect(res.total).toBe(2000);
    expect((await countTasks(db))).toBe(before + 2000);
    expect(res.fanout).toMatch(/^[0-9A-Za-z]{8}$/);
    const codes = res.tasks.map((t) => t.code);
    for (const c of codes) expect(c).toMatch(/^[0-9A-Za-z]{8}$/);
    expect(new Set(codes).size).toBe(2000);
    expect(new Set(res.tasks.map((t) => t.device)).size).toBe(2000);

    const created = transitionsOf(events);
    expect(created).toHaveLength(2000);
    // And one for the audit trail, however many tasks.
    expect(events.filter((e) => e.kind !== "task.transition")).toEqual([{ kind: "audit.recorded", organizationId: org.id }]);
    expect(created.every((e) => e.from === null && e.to === "PENDING" && e.type === "PING" && e.organizationId === org.id)).toBe(true);
    expect(new Set(created.map((e) => e.code))).toEqual(new Set(codes));
    const fo = (await db.select().from(fanouts).where(eq(fanouts.code, res.fanout)))[0]!;
    expect(fo.total).toBe(2000);
    expect(created.every((e) => e.fanoutId === fo.id)).toBe(true);
  });

  test("a refused request publishes nothing; a scheduled one publishes SCHEDULED creations", async () => {
    const f = await fleet();
    expect((await capture(() => expectDomainError(() => issueFanout({ db, actor: f.actor }, { type: "PING", payload: {}, targets: { devices: ["e1"] } }), "invalid"))).events).toEqual([]);
    const { events } = await capture(() =>
      issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["e1", "e2"] }, scheduledAt: new Date(Date.now() + 3600_000) }),
    );
    expect(transitionsOf(events).map((e) => [e.from, e.to])).toEqual([
      [null, "SCHEDULED"],
      [null, "SCHEDULED"],
    ]);
  });

  test("tasks record who created them and their organization", async () => {
    const f = await fleet();
    const res = await issueFanout({ db, actor: f.actor }, { type: "BACKUP", targets: { devices: ["e4"] } });
    const row = await taskByCode(db, res.tasks[0].code);
    expect(row).toMatchObject({ organizationId: f.org.id, deviceId: f.e4.id, type: "BACKUP", createdBy: f.actor.userId, rerunOf: null });
  });

  test("fan-out targets record what was asked for, names de-duplicated", async () => {
    const f = await fleet();
    const target = async (code: string) => (await db.select().from(fanouts).where(eq(fanouts.code, code)))[0]!.target;
    expect((await target((await issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["e1", "e1"] } })).fanout))).toEqual({ devices: ["e1"] });
    expect((await target((await issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { ous: ["east"] } })).fanout))).toEqual({ ous: ["east"] });
    expect((await target((await issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["e1"], ous: ["east", "east"] } })).fanout))).toEqual({ devices: ["e1"], ous: ["east"] });
  });
});
