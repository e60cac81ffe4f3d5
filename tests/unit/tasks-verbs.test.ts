import { desc, eq } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { devices, tasks } from "../../db/schema";
import { createDevice, deleteDevice, disableDevice, listDevices, renameDevice } from "../../lib/devices/devices";
import { FINAL_STATUSES, TASK_STATUSES, type TaskStatus } from "../../rules/tasks";
import { issueFanout } from "../../lib/tasks/issue";
import { getTask, listTasks, pageTasks } from "../../lib/tasks/queries";
import { cancelTask, rerunTask } from "../../lib/tasks/verbs";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { capture, countFanouts, countTasks, expectDomainError, taskByCode, taskInStatus, transitionsOf } from "./helpers";

const db = await freshDb();

/** A fresh organization with one ENABLED device, so lists hold only this test's tasks. */
async function setup() {
  const { org, actor } = await makeOrg(db);
  const [device] = await makeDevices(db, org.id, 1, { prefix: "fw" });
  return { org, actor, device };
}

describe("cancelTask", () => {
  test.each(["SCHEDULED", "PENDING"] as const)("cancels a %s task, naming who did it", async (status) => {
    const { actor, device } = await setup();
    const task = await taskInStatus(db, actor, device.name, status);
    const { result, events } = await capture(() => cancelTask({ db, actor }, task.code));
    expect(result).toMatchObject({ id: task.id, status: "CANCELLED", message: `Cancelled by ${actor.label}` });
    expect(result.finishedAt).toBeInstanceOf(Date);
    expect((await taskByCode(db, task.code))).toMatchObject({ status: "CANCELLED", message: `Cancelled by ${actor.label}` });
    expect(events).toHaveLength(2);
    expect(transitionsOf(events)[0]).toMatchObject({ code: task.code, from: status, to: "CANCELLED" });
    expect(events[1]).toEqual({ kind: "audit.recorded", organizationId: actor.organizationId });
  });

  test.each(["IN_PROGRESS", ...FINAL_STATUSES] as TaskStatus[])("refuses a %s task with conflict, changing nothing", async (status) => {
    const { actor, device } = await setup();
    const task = await taskInStatus(db, actor, device.name, status);
    const { result: err, events } = await capture(() => expectDomainError(() => cancelTask({ db, actor }, task.code), "conflict"));
    expect(err.message).toContain(status);
    expect(events).toEqual([]);
    expect((await taskByCode(db, task.code))).toEqual(task);
  });

  test("the label of the actor is what the message names", async () => {
    const { actor, device } = await setup();
    const task = await taskInStatus(db, actor, device.name, "PENDING");
    expect((await cancelTask({ db, actor: { ...actor, label: "ops@example.test (token ci)" } }, task.code)).message).toBe("Cancelled by ops@example.test (token ci)");
  });
});

describe("rerunTask", () => {
  test.each(FINAL_STATUSES)("re-runs a %s task: same device, type and payload, linked both ways", async (status) => {
    const { actor, device } = await setup();
    const old = await taskInStatus(db, actor, device.name, status, { type: "PING", payload: { host: "192.0.2.7", count: 9 } });
    const { result: res, events } = await capture(() => rerunTask({ db, actor }, old.code));
    expect(res.total).toBe(1);
    expect(res.tasks[0]).toMatchObject({ device: device.name, status: "PENDING" });
    const fresh = await taskByCode(db, res.tasks[0].code);
    expect(fresh).toMatchObject({
      deviceId: old.deviceId,
      organizationId: old.organizationId,
      type: "PING",
      payload: { host: "192.0.2.7", count: 9 },
      status: "PENDING",
      rerunOf: old.code,
      message: null,
    });
    expect((await fresh).code).not.toBe(old.code);
    expect((await fresh).fanoutId).not.toBe(old.fanoutId);
    expect(transitionsOf(events).map((e) => [e.code, e.from, e.to])).toEqual([[(await fresh).code, null, "PENDING"]]);
    // The old task is final and untouched; the link back is found by query.
    expect((await taskByCode(db, old.code))).toEqual(old);
    expect((await getTask({ db, actor }, old.code)).reruns).toEqual([{ code: (await fresh).code, status: "PENDING" }]);
    expect(await getTask({ db, actor }, (await fresh).code)).toMatchObject({ rerunOf: old.code, reruns: [] });
  });

  test("a re-run lives as long as the task it repeats: a PING issued to expire after two minutes is re-run to expire after two minutes", async () => {
    const { actor, device } = await setup();
    const old = await taskInStatus(db, actor, device.name, "EXPIRED", { type: "PING", payload: { host: "192.0.2.7" }, ttlSeconds: 120 });
    const fresh = await taskByCode(db, (await rerunTask({ db, actor }, old.code)).tasks[0].code);
    expect(fresh.expiresAt.getTime() - fresh.createdAt.getTime()).toBe(120_000);
  });

  test("several re-runs are listed oldest first", async () => {
    const { actor, device } = await setup();
    const old = await taskInStatus(db, actor, device.name, "FAILED");
    const first = (await rerunTask({ db, actor }, old.code)).tasks[0].code;
    await cancelTask({ db, actor }, first);
    const second = (await rerunTask({ db, actor }, old.code)).tasks[0].code;
    expect((await getTask({ db, actor }, old.code)).reruns).toEqual([
      { code: first, status: "CANCELLED" },
      { code: second, status: "PENDING" },
    ]);
    // A re-run of a re-run links to its own parent.
    expect((await taskByCode(db, (await rerunTask({ db, actor }, first)).tasks[0].code)).rerunOf).toBe(first);
  });

  test("a payload-less type re-runs with a null payload", async () => {
    const { actor, device } = await setup();
    const old = await taskInStatus(db, actor, device.name, "COMPLETED", { type: "RESTART" });
    const fresh = await taskByCode(db, (await rerunTask({ db, actor }, old.code)).tasks[0].code);
    expect(fresh).toMatchObject({ type: "RESTART", payload: null, rerunOf: old.code });
  });

  test.each(["SCHEDULED", "PENDING", "IN_PROGRESS"] as const)("refuses an open %s task with conflict", async (status) => {
    const { actor, device } = await setup();
    const task = await taskInStatus(db, actor, device.name, status);
    const before = await countTasks(db);
    await expectDomainError(() => rerunTask({ db, actor }, task.code), "conflict");
    expect((await countTasks(db))).toBe(before);
    expect((await taskByCode(db, task.code))).toEqual(task);
  });

  test("refuses a task of a deleted device, even once its name is reused", async () => {
    const { org, actor, device } = await setup();
    const old = await taskInStatus(db, actor, device.name, "COMPLETED");
    await deleteDevice({ db, actor }, device.id);
    const before = { tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) };
    await expectDomainError(() => rerunTask({ db, actor }, old.code), "unprocessable");
    await createDevice({ db }, { organizationId: org.id, name: device.name, status: "ENABLED" });
    const err = await expectDomainError(() => rerunTask({ db, actor }, old.code), "unprocessable");
    expect(err.message).toContain(device.name);
    expect({ tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) }).toEqual(before);
  });

  test("refuses a task of a now-DISABLED device", async () => {
    const { actor, device } = await setup();
    const old = await taskInStatus(db, actor, device.name, "COMPLETED");
    await disableDevice({ db, actor }, device.id);
    const before = await countTasks(db);
    await expectDomainError(() => rerunTask({ db, actor }, old.code), "unprocessable");
    expect((await countTasks(db))).toBe(before);
  });
});

describe("task codes", async () => {
  const { actor, device } = await setup();
  const verbs = {
    getTask: (code: unknown) => getTask({ db, actor }, code),
    cancelTask: (code: unknown) => cancelTask({ db, actor }, code),
    rerunTask: (code: unknown) => rerunTask({ db, actor }, code),
  };

  test.each(Object.keys(verbs))("%s: malformed codes are invalid", async (verb) => {
    const fn = verbs[verb as keyof typeof verbs];
    for (const bad of ["abc", "ABCDEFGHI", "", "abc-defg", "abcdefg ", 12345678, null, undefined]) {
      await expectDomainError(() => fn(bad), "invalid");
    }
  });

  test.each(Object.keys(verbs))("%s: an unknown well-formed code is not_found", async (verb) => {
    const fn = verbs[verb as keyof typeof verbs];
    await taskInStatus(db, actor, device.name, "COMPLETED");
    const err = await expectDomainError(() => fn("ZZZZzzz9"), "not_found");
    expect(err.message).toContain("ZZZZzzz9");
  });

  test("getTask is exact about case", async () => {
    const task = await taskInStatus(db, actor, device.name, "PENDING");
    const flipped = task.code.replace(/[a-zA-Z]/g, (c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()));
    if (flipped !== task.code) await expectDomainError(() => getTask({ db, actor }, flipped), "not_found");
    expect(await getTask({ db, actor }, task.code)).toMatchObject({ code: task.code, device: device.name, deviceStatus: "ENABLED", createdByEmail: actor.label });
  });
});

describe("listTasks", () => {
  test("newest first, with the device and organization names", async () => {
    const { org, actor } = await makeOrg(db);
    const [a, b] = await makeDevices(db, org.id, 2, { prefix: "order" });
    const codes: string[] = [];
    for (const d of [a, b, a, b]) codes.push((await issueFanout({ db, actor }, { type: "SYNC", targets: { devices: [d.name] } })).tasks[0].code);
    const { items, hasOlder, hasNewer } = await listTasks({ db, actor }, {});
    expect(items.map((t) => t.code)).toEqual([...codes].reverse());
    expect(items.map((t) => t.device)).toEqual([b.name, a.name, b.name, a.name]);
    expect(items.every((t) => t.organization === org.name)).toBe(true);
    expect({ hasOlder, hasNewer }).toEqual({ hasOlder: false, hasNewer: false });
  });

  test("filters by device substring, treating % and _ literally", async () => {
    const { org, actor } = await makeOrg(db);
    const names = ["edge_1", "edgeX1", "edge-1", "core.1"];
    for (const name of names) await createDevice({ db }, { organizationId: org.id, name, status: "ENABLED" });
    const code: Record<string, string> = {};
    for (const n of names) code[n] = (await issueFanout({ db, actor }, { type: "SYNC", targets: { devices: [n] } })).tasks[0].code;
    const shown = async (device: string) => (await listTasks({ db, actor }, { filter: { device } })).items.map((t) => t.device).sort();

    expect(await shown("edge")).toEqual(["edge-1", "edgeX1", "edge_1"].sort());
    expect(await shown("edge_1")).toEqual(["edge_1"]);
    expect(await shown("_")).toEqual(["edge_1"]);
    expect(await shown("%")).toEqual([]);
    expect(await shown("e%1")).toEqual([]);
    expect(await shown("core.")).toEqual(["core.1"]);
    expect(await shown("nothing-like-it")).toEqual([]);
    expect((await listTasks({ db, actor }, { filter: { device: "edge_1" } })).items.map((t) => t.code)).toEqual([code.edge_1]);
    expect((await pageTasks({ db, actor }, { filter: { device: "edge_1" }, page: 1, perPage: 10 })).total).toBe(1);
    expect((await pageTasks({ db, actor }, { filter: { device: "%" }, page: 1, perPage: 10 })).total).toBe(0);
  });

  test("filters by type, status and fan-out, alone and together", async () => {
    const { org, actor } = await makeOrg(db);
    const ds = await makeDevices(db, org.id, 3, { prefix: "flt" });
    const syncAll = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } });
    const ping = await issueFanout({ db, actor }, { type: "PING", payload: { host: "h" }, targets: { devices: [ds[0].name, ds[1].name] } });
    await cancelTask({ db, actor }, ping.tasks[0].code);
    const codes = async (filter: object) => (await listTasks({ db, actor }, { filter })).items.map((t) => t.code).sort();

    expect(await codes({ type: "SYNC" })).toEqual(syncAll.tasks.map((t) => t.code).sort());
    expect(await codes({ type: "PING" })).toEqual(ping.tasks.map((t) => t.code).sort());
    expect(await codes({ status: "CANCELLED" })).toEqual([ping.tasks[0].code]);
    expect(await codes({ status: "PENDING" })).toHaveLength(4);
    expect(await codes({ type: "PING", status: "PENDING" })).toEqual([ping.tasks[1].code]);
    expect(await codes({ fanout: ping.fanout })).toEqual(ping.tasks.map((t) => t.code).sort());
    expect(await codes({ fanout: syncAll.fanout, device: ds[2].name })).toEqual([syncAll.tasks.find((t) => t.device === ds[2].name)!.code]);
    expect(await codes({ fanout: "ZZZZZZZZ" })).toEqual([]);
    expect(await codes({ type: "REBOOT" })).toEqual([]);
    expect(await pageTasks({ db, actor }, { filter: { type: "SYNC" }, page: 1, perPage: 2 })).toMatchObject({ total: 3, pages: 2 });
  });

  test("invalid filters are invalid, naming the field", async () => {
    const { actor } = await setup();
    for (const [filter, field] of [
      [{ status: "DONE" }, "status"],
      [{ type: "FORMAT" }, "type"],
      [{ fanout: "short" }, "fanout"],
      [{ device: "x".repeat(65) }, "device"],
    ] as const) {
      const err = await expectDomainError(() => listTasks({ db, actor }, { filter }), "invalid");
      expect(Object.keys(err.fieldErrors ?? {})).toEqual([field]);
      await expectDomainError(() => pageTasks({ db, actor }, { filter, page: 1, perPage: 10 }), "invalid");
    }
    for (const s of TASK_STATUSES) await expect(listTasks({ db, actor }, { filter: { status: s } })).resolves.not.toThrow();
  });

  test("keyset pages over 75 tasks at limit 30: forward with before, back with after", async () => {
    const { org, actor } = await makeOrg(db);
    await makeDevices(db, org.id, 75, { prefix: "page" });
    await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } });
    const all = await db.select({ id: tasks.id, code: tasks.code }).from(tasks).where(eq(tasks.organizationId, org.id)).orderBy(desc(tasks.id));
    expect(all).toHaveLength(75);
    const ids = (items: { id: number }[]) => items.map((t) => t.id);
    const expected = [all.slice(0, 30), all.slice(30, 60), all.slice(60)].map(ids);

    const p1 = await listTasks({ db, actor }, { limit: 30 });
    expect(ids(p1.items)).toEqual(expected[0]);
    expect([p1.hasNewer, p1.hasOlder]).toEqual([false, true]);

    const p2 = await listTasks({ db, actor }, { limit: 30, cursor: { before: p1.items.at(-1)!.id } });
    expect(ids(p2.items)).toEqual(expected[1]);
    expect([p2.hasNewer, p2.hasOlder]).toEqual([true, true]);

    const p3 = await listTasks({ db, actor }, { limit: 30, cursor: { before: p2.items.at(-1)!.id } });
    expect(ids(p3.items)).toEqual(expected[2]);
    expect(p3.items).toHaveLength(15);
    expect([p3.hasNewer, p3.hasOlder]).toEqual([true, false]);

    const b2 = await listTasks({ db, actor }, { limit: 30, cursor: { after: p3.items[0].id } });
    expect(ids(b2.items)).toEqual(expected[1]);
    expect([b2.hasNewer, b2.hasOlder]).toEqual([true, true]);

    const b1 = await listTasks({ db, actor }, { limit: 30, cursor: { after: b2.items[0].id } });
    expect(ids(b1.items)).toEqual(expected[0]);
    expect([b1.hasNewer, b1.hasOlder]).toEqual([false, true]);

    // The pages tile the whole list without gaps or overlaps.
    expect([...p1.items, ...p2.items, ...p3.items].map((t) => t.code)).toEqual(all.map((t) => t.code));

    // Offset pages agree.
    const o2 = await pageTasks({ db, actor }, { page: 2, perPage: 30 });
    expect(ids(o2.items)).toEqual(expected[1]);
    expect(o2).toMatchObject({ total: 75, pages: 3, page: 2, perPage: 30 });
    expect(ids((await pageTasks({ db, actor }, { page: 3, perPage: 30 })).items)).toEqual(expected[2]);
  });

  test("keyset paging respects filters", async () => {
    const { org, actor } = await makeOrg(db);
    const ds = await makeDevices(db, org.id, 10, { prefix: "kf" });
    for (const d of ds) {
      await issueFanout({ db, actor }, { type: "SYNC", targets: { devices: [d.name] } });
      await issueFanout({ db, actor }, { type: "BACKUP", targets: { devices: [d.name] } });
    }
    const p1 = await listTasks({ db, actor }, { filter: { type: "BACKUP" }, limit: 4 });
    const p2 = await listTasks({ db, actor }, { filter: { type: "BACKUP" }, limit: 4, cursor: { before: p1.items.at(-1)!.id } });
    const p3 = await listTasks({ db, actor }, { filter: { type: "BACKUP" }, limit: 4, cursor: { before: p2.items.at(-1)!.id } });
    const seen = [...p1.items, ...p2.items, ...p3.items];
    expect(seen).toHaveLength(10);
    expect(seen.every((t) => t.type === "BACKUP")).toBe(true);
    expect(new Set(seen.map((t) => t.id)).size).toBe(10);
    expect(p3.hasOlder).toBe(false);
  });
});

describe("device deletion", () => {
  test("finishes open tasks, keeps final ones, and shows the name as name__deleted__", async () => {
    const { org, actor, device } = await setup();
    const scheduled = await taskInStatus(db, actor, device.name, "SCHEDULED");
    const pending = await taskInStatus(db, actor, device.name, "PENDING");
    const running = await taskInStatus(db, actor, device.name, "IN_PROGRESS");
    const done = await taskInStatus(db, actor, device.name, "COMPLETED");
    const [bystander] = await makeDevices(db, org.id, 1, { prefix: "by" });
    const other = await taskInStatus(db, actor, bystander.name, "PENDING");

    const { events } = await capture(() => deleteDevice({ db, actor }, device.id));

    expect((await taskByCode(db, scheduled.code))).toMatchObject({ status: "CANCELLED", message: "Device deleted" });
    expect((await taskByCode(db, pending.code))).toMatchObject({ status: "CANCELLED", message: "Device deleted" });
    expect((await taskByCode(db, running.code))).toMatchObject({ status: "FAILED", message: "Device deleted while the task was running" });
    expect((await taskByCode(db, done.code))).toEqual(done);
    expect((await taskByCode(db, other.code))).toEqual(other);
    for (const t of [scheduled, pending, running]) expect((await taskByCode(db, t.code)).finishedAt).toBeInstanceOf(Date);

    const moves = transitionsOf(events).map((e) => [e.code, e.from, e.to]);
    expect(moves.sort()).toEqual(
      [
        [scheduled.code, "SCHEDULED", "CANCELLED"],
        [pending.code, "PENDING", "CANCELLED"],
        [running.code, "IN_PROGRESS", "FAILED"],
      ].sort(),
    );
    expect(events.filter((e) => e.kind === "device.changed")).toEqual([
      { kind: "device.changed", organizationId: org.id, deviceId: device.id, change: "deleted" },
    ]);

    const shownAs = `${device.name}__deleted__`;
    for (const t of [scheduled, pending, running, done]) {
      const detail = await getTask({ db, actor }, t.code);
      expect(detail.device).toBe(shownAs);
    }
    const listed = (await listTasks({ db, actor }, {})).items.filter((t) => t.deviceId === device.id);
    expect(listed).toHaveLength(4);
    expect(listed.every((t) => t.device === shownAs)).toBe(true);
    expect((await listTasks({ db, actor }, { filter: { device: "__deleted__" } })).items.map((t) => t.deviceId)).toEqual(Array(4).fill(device.id));

    const row = (await db.select().from(devices).where(eq(devices.id, device.id)))[0]!;
    expect(row.deletedAt).toBeInstanceOf(Date);
    expect(row.online).toBe(false);
    expect((await listDevices({ db, actor })).map((d) => d.id)).not.toContain(device.id);
  });

  test("the name can be reused by a new device; old and new tasks keep their own names", async () => {
    const { org, actor, device } = await setup();
    const old = await taskInStatus(db, actor, device.name, "COMPLETED");
    await deleteDevice({ db, actor }, device.id);
    await expectDomainError(() => issueFanout({ db, actor }, { type: "SYNC", targets: { devices: [device.name] } }), "unprocessable");
    const reborn = await createDevice({ db }, { organizationId: org.id, name: device.name, status: "ENABLED" });
    expect(reborn.id).not.toBe(device.id);
    const res = await issueFanout({ db, actor }, { type: "SYNC", targets: { devices: [device.name] } });
    expect((await taskByCode(db, res.tasks[0].code)).deviceId).toBe(reborn.id);
    expect((await getTask({ db, actor }, res.tasks[0].code)).device).toBe(device.name);
    expect((await getTask({ db, actor }, old.code)).device).toBe(`${device.name}__deleted__`);
    expect((await listTasks({ db, actor }, { filter: { device: device.name } })).items.map((t) => t.device)).toEqual([device.name, `${device.name}__deleted__`]);
    // A second live device of that name is still refused.
    await expectDomainError(() => createDevice({ db }, { organizationId: org.id, name: device.name, status: "ENABLED" }), "conflict");
  });

  test("a deleted device cannot be deleted again or renamed", async () => {
    const { actor, device } = await setup();
    await deleteDevice({ db, actor }, device.id);
    await expectDomainError(() => deleteDevice({ db, actor }, device.id), "not_found");
    await expectDomainError(() => renameDevice({ db, actor }, device.id, "phoenix"), "not_found");
  });
});

describe("device rename", () => {
  test("to a live device's name is a conflict and changes nothing", async () => {
    const { org, actor } = await makeOrg(db);
    const [a, b] = await makeDevices(db, org.id, 2, { prefix: "rn" });
    const { events } = await capture(() => expectDomainError(() => renameDevice({ db, actor }, a.id, b.name), "conflict"));
    expect(events).toEqual([]);
    expect((await db.select().from(devices).where(eq(devices.id, a.id)))[0]!.name).toBe(a.name);
  });

  test("to a deleted device's name is allowed, and the task list shows the new name", async () => {
    const { org, actor } = await makeOrg(db);
    const [a, b] = await makeDevices(db, org.id, 2, { prefix: "rd" });
    const task = await taskInStatus(db, actor, a.name, "PENDING");
    await deleteDevice({ db, actor }, b.id);
    await renameDevice({ db, actor }, a.id, b.name);
    expect((await getTask({ db, actor }, task.code)).device).toBe(b.name);
    expect((await listTasks({ db, actor }, { filter: { device: b.name } })).items.map((t) => t.device).sort()).toEqual([b.name]);
  });

  test.each(["", "has space", "-leading", "x__deleted__", "x".repeat(65)])("to %j is invalid", async (name) => {
    const { actor, device } = await setup();
    await expectDomainError(() => renameDevice({ db, actor }, device.id, name), "invalid");
    expect((await db.select().from(devices).where(eq(devices.id, device.id)))[0]!.name).toBe(device.name);
  });
});

describe("listDevices", () => {
  test("the query is a substring, treating _ and % literally", async () => {
    const { org, actor } = await makeOrg(db);
    for (const name of ["edge_1", "edgeX1", "core-1"]) await createDevice({ db }, { organizationId: org.id, name, status: "ENABLED" });
    const q = async (query: string) => (await listDevices({ db, actor }, { query })).map((d) => d.name);
    expect(await q("edge")).toEqual(["edgeX1", "edge_1"]);
    expect(await q("%")).toEqual([]);
    expect(await q("edge_1")).toEqual(["edge_1"]);
  });
});
