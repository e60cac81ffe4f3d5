// Codes are drawn at random (8 characters of base62): among tens of millions of tasks, a large
// fan-out now and then draws one that is already taken. The draw cannot be made to repeat
// itself, so here the drawing functions hand out chosen codes first, then random ones.
import { eq } from "drizzle-orm";
import { describe, expect, test, vi } from "vitest";
import { fanouts, tasks } from "../../db/schema";
import { issueFanout } from "../../lib/tasks/issue";
import { rerunTask } from "../../lib/tasks/verbs";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { countFanouts, countTasks, expectDomainError, taskInStatus } from "./helpers";

const forced = vi.hoisted(() => ({ codes: [] as string[][], code: [] as string[] }));

vi.mock("../../lib/crypto", async (original) => {
  const real = await original<typeof import("../../lib/crypto")>();
  return {
    ...real,
    randomCodes: (count: number, length?: number) => forced.codes.shift() ?? real.randomCodes(count, length),
    randomCode: (length?: number) => ((length ?? 8) === 8 ? forced.code.shift() : undefined) ?? real.randomCode(length),
  };
});

const db = await freshDb();

const codesOf = async (fanoutCode: string) => {
  const [fo] = await db.select().from(fanouts).where(eq(fanouts.code, fanoutCode));
  return (await db.select({ code: tasks.code }).from(tasks).where(eq(tasks.fanoutId, fo.id))).map((r) => r.code);
};

describe("a drawn code that is already taken", () => {
  test("a task's: the fan-out is written with codes drawn again, and the task that had it is untouched", async () => {
    const { org, actor } = await makeOrg(db);
    const [a, b] = await makeDevices(db, org.id, 2);
    const first = await issueFanout({ db, actor }, { type: "PULL", targets: { devices: [a.name] } });
    const taken = first.tasks[0].code;
    const before = await countTasks(db);

    forced.codes.push(["fresh001", taken]);
    const second = await issueFanout({ db, actor }, { type: "SYNC", targets: { devices: [a.name, b.name] } });

    expect(forced.codes).toEqual([]);
    expect(second.total).toBe(2);
    expect(second.tasks.map((t) => t.code)).not.toContain(taken);
    expect((await codesOf(second.fanout)).sort()).toEqual(second.tasks.map((t) => t.code).sort());
    expect(await countTasks(db)).toBe(before + 2);
    const [kept] = await db.select().from(tasks).where(eq(tasks.code, taken));
    expect(kept.type).toBe("PULL");
    expect(kept.deviceId).toBe(a.id);
  });

  test("a fan-out's: written again under a code drawn anew", async () => {
    const { org, actor } = await makeOrg(db);
    const [a] = await makeDevices(db, org.id, 1);
    const first = await issueFanout({ db, actor }, { type: "PULL", targets: { devices: [a.name] } });
    const fanoutsBefore = await countFanouts(db);

    forced.code.push(first.fanout);
    const second = await issueFanout({ db, actor }, { type: "PULL", targets: { devices: [a.name] } });

    expect(forced.code).toEqual([]);
    expect(second.fanout).not.toBe(first.fanout);
    expect(await countFanouts(db)).toBe(fanoutsBefore + 1);
    expect(await codesOf(second.fanout)).toEqual([second.tasks[0].code]);
  });

  test("a re-run's: the re-run is written under a code drawn anew", async () => {
    const { org, actor } = await makeOrg(db);
    const [a] = await makeDevices(db, org.id, 1);
    const done = await taskInStatus(db, actor, a.name, "COMPLETED");
    const other = await issueFanout({ db, actor }, { type: "PULL", targets: { devices: [a.name] } });

    forced.codes.push([other.tasks[0].code]);
    const rerun = await rerunTask({ db, actor }, done.code);

    expect(forced.codes).toEqual([]);
    expect(rerun.tasks[0].code).not.toBe(other.tasks[0].code);
    const [row] = await db.select().from(tasks).where(eq(tasks.code, rerun.tasks[0].code));
    expect(row.rerunOf).toBe(done.code);
  });

  test("taken at every draw: a conflict to try again, and nothing is written", async () => {
    const { org, actor } = await makeOrg(db);
    const [a] = await makeDevices(db, org.id, 1);
    const first = await issueFanout({ db, actor }, { type: "PULL", targets: { devices: [a.name] } });
    const [tasksBefore, fanoutsBefore] = [await countTasks(db), await countFanouts(db)];

    const taken = first.tasks[0].code;
    forced.codes.push([taken], [taken], [taken], [taken], [taken]);
    const e = await expectDomainError(() => issueFanout({ db, actor }, { type: "PULL", targets: { devices: [a.name] } }), "conflict");
    forced.codes.length = 0;

    expect(e.message).toMatch(/try again/i);
    expect(await countTasks(db)).toBe(tasksBefore);
    expect(await countFanouts(db)).toBe(fanoutsBefore);
  });
});
