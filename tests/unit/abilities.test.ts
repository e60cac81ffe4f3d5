import { describe, expect, test } from "vitest";
import type { Actor } from "../../lib/actor";
import { approveDevice, deleteDevice, disableDevice, enableDevice, renameDevice } from "../../lib/devices/devices";
import { abilities } from "../../lib/tasks/abilities";
import { issueFanout } from "../../lib/tasks/issue";
import { cancelTask, rerunTask } from "../../lib/tasks/verbs";
import { DEVICE_ACTIONS, DEVICE_STATUSES, deviceAllows, type DeviceAction, type DeviceStatus } from "../../rules/devices";
import { ROLES, type Role } from "../../rules/roles";
import { TASK_STATUSES, type TaskStatus } from "../../rules/tasks";
import { freshDb } from "../support/db";
import { actorAs, makeDevices, makeOrg } from "../support/factories";
import { taskInStatus } from "./helpers";

const db = await freshDb();

const EXPECTED: Record<TaskStatus, { cancel: boolean; rerun: boolean }> = {
  SCHEDULED: { cancel: true, rerun: false },
  PENDING: { cancel: true, rerun: false },
  IN_PROGRESS: { cancel: false, rerun: false },
  COMPLETED: { cancel: false, rerun: true },
  FAILED: { cancel: false, rerun: true },
  CANCELLED: { cancel: false, rerun: true },
  EXPIRED: { cancel: false, rerun: true },
};

describe("abilities", () => {
  const cases = TASK_STATUSES.flatMap((status) => ROLES.map((role) => [status, role] as const));

  test.each(cases)("a %s task, for a %s actor", (status, role) => {
    const writes = role !== "READ_ONLY";
    const live = abilities({ role }, { status, deviceDeleted: false });
    expect(live).toEqual({ cancel: writes && EXPECTED[status].cancel, rerun: writes && EXPECTED[status].rerun });
    const deleted = abilities({ role }, { status, deviceDeleted: true });
    expect(deleted).toEqual({ cancel: writes && EXPECTED[status].cancel, rerun: false });
  });

  // The verbs answer to the same rule: what abilities refuses, they refuse; what it allows, they do.
  test.each(TASK_STATUSES)("cancelTask and rerunTask agree with abilities for a %s task", async (status) => {
    for (const role of ["READ_WRITE", "ADMIN"] as Role[]) {
      const { org, actor: admin } = await makeOrg(db);
      const actor = actorAs(admin, role);
      const [device] = await makeDevices(db, org.id, 1, { prefix: "ab" });
      const can = abilities(actor, { status, deviceDeleted: false });
      const forCancel = await taskInStatus(db, admin, device.name, status);
      const forRerun = await taskInStatus(db, admin, device.name, status);
      expect(await succeeds(() => cancelTask({ db, actor }, forCancel.code))).toBe(can.cancel);
      expect(await succeeds(() => rerunTask({ db, actor }, forRerun.code))).toBe(can.rerun);
    }
  });
});

describe("abilities and a deleted device", () => {
  test("a finished task of a deleted device may not be re-run, and rerunTask refuses it", async () => {
    const { org, actor } = await makeOrg(db);
    const [device] = await makeDevices(db, org.id, 1, { prefix: "gone" });
    const task = await taskInStatus(db, actor, device.name, "COMPLETED");
    await deleteDevice({ db, actor }, device.id);
    expect(abilities(actor, { status: task.status, deviceDeleted: true }).rerun).toBe(false);
    expect(await succeeds(() => rerunTask({ db, actor }, task.code))).toBe(false);
  });
});

const VERBS: Record<Exclude<DeviceAction, "tasks">, (actor: Actor, id: string) => Promise<unknown>> = {
  approve: (actor, id) => approveDevice({ db, actor }, id),
  enable: (actor, id) => enableDevice({ db, actor }, id),
  disable: (actor, id) => disableDevice({ db, actor }, id),
  rename: (actor, id) => renameDevice({ db, actor }, id, `renamed-${id.slice(0, 8)}`),
  delete: (actor, id) => deleteDevice({ db, actor }, id),
};

describe("device actions", () => {
  const cases = DEVICE_STATUSES.flatMap((status) => (Object.keys(DEVICE_ACTIONS) as DeviceAction[]).map((action) => [action, status] as const));

  // A verb refuses exactly what the table says is not allowed, so the registry's buttons never offer a refusal.
  test.each(cases)("%s on a %s device: the verb does what the table allows", async (action, status: DeviceStatus) => {
    const { org, actor } = await makeOrg(db);
    const [device] = await makeDevices(db, org.id, 1, { prefix: "da", status });
    const run =
      action === "tasks"
        ? () => issueFanout({ db, actor }, { type: "SYNC", targets: { devices: [device.name] } })
        : () => VERBS[action](actor, device.id);
    expect(await succeeds(run)).toBe(deviceAllows(status, action));
  });
});

async function succeeds(fn: () => unknown): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch {
    return false;
  }
}
