// Lists given to a statement as one parameter (db/portable.ts `anyOf`, `jsonRows`): the
// dispatcher's reads and its sequence numbers, the presence and heartbeat writes. Each statement
// reads the same whatever the list's length, on both dialects.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { anyOf, jsonRows } from "../../db/portable";
import { devices } from "../../db/schema";
import { withTransaction } from "../../db/transaction";
import { reserveSeqs } from "../../lib/devices/connection";
import { issueFanout } from "../../lib/tasks/issue";
import { listTasks, pageTasks } from "../../lib/tasks/queries";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { rawRows } from "../support/raw";

const db = await freshDb();

const lastSeqs = async (ids: string[]) =>
  Object.fromEntries((await rawRows<{ id: string; last_seq: number }>(db, `select id, last_seq from devices where id in (${ids.map(() => "?").join(", ")})`, ...ids)).map((r) => [r.id, Number(r.last_seq)]));

describe("reserveSeqs", () => {
  test("several devices at once: each gets as many consecutive numbers as it asked for, after its last", async () => {
    const { org } = await makeOrg(db);
    const [a, b, c, d] = await makeDevices(db, org.id, 4, { prefix: "sq" });
    const first = await withTransaction({ db }, (tx) => reserveSeqs(tx, new Map([[a.id, 1], [b.id, 3], [c.id, 2]])));
    expect(Object.fromEntries(first)).toEqual({ [a.id]: 1, [b.id]: 1, [c.id]: 1 });
    expect(await lastSeqs([a.id, b.id, c.id, d.id])).toEqual({ [a.id]: 1, [b.id]: 3, [c.id]: 2, [d.id]: 0 });

    const second = await withTransaction({ db }, (tx) => reserveSeqs(tx, new Map([[c.id, 4], [a.id, 2]])));
    expect(Object.fromEntries(second)).toEqual({ [a.id]: 2, [c.id]: 3 });
    const one = await withTransaction({ db }, (tx) => reserveSeqs(tx, new Map([[d.id, 5]])));
    expect(Object.fromEntries(one)).toEqual({ [d.id]: 1 });
    expect(await lastSeqs([a.id, b.id, c.id, d.id])).toEqual({ [a.id]: 3, [b.id]: 3, [c.id]: 6, [d.id]: 5 });
    expect(await withTransaction({ db }, (tx) => reserveSeqs(tx, new Map()))).toEqual(new Map());
  });

  test("a rolled-back transaction gives its numbers back", async () => {
    const { org } = await makeOrg(db);
    const [a, b] = await makeDevices(db, org.id, 2, { prefix: "rb" });
    await expect(
      withTransaction({ db }, async (tx) => {
        await reserveSeqs(tx, new Map([[a.id, 2], [b.id, 1]]));
        throw new Error("not sent");
      }),
    ).rejects.toThrow("not sent");
    expect(await lastSeqs([a.id, b.id])).toEqual({ [a.id]: 0, [b.id]: 0 });
  });
});

describe("anyOf and jsonRows", () => {
  test("a list matches its members only; an empty one matches nothing; a list past SQLite's 32,766 parameters is still one", async () => {
    const { org } = await makeOrg(db);
    const made = await makeDevices(db, org.id, 3, { prefix: "any" });
    const ids = made.map((d) => d.id);
    const names = async (list: string[]) =>
      (await db.select({ name: devices.name }).from(devices).where(anyOf(devices.id, list))).map((r) => r.name).sort();
    expect(await names([ids[0], ids[2], "not-a-device"])).toEqual([made[0].name, made[2].name].sort());
    expect(await names([])).toEqual([]);
    const long = [...Array.from({ length: 40_000 }, (_, i) => `missing-${i}`), ids[1]];
    expect(await names(long)).toEqual([made[1].name]);
  });

  test("jsonRows gives each element its column and type, text kept as it was written", async () => {
    const odd = `it's "quoted", \\ and ünïcode`;
    const back = await db
      .select({ text: sql<string>`${sql.identifier("r")}.${sql.identifier("text")}`, n: sql<number>`${sql.identifier("r")}.${sql.identifier("n")}` })
      .from(jsonRows([[odd, 7], ["plain", -3]], "r", { text: "text", n: "integer" }));
    expect(back.map((r) => ({ text: r.text, n: Number(r.n) })).sort((x, y) => x.n - y.n)).toEqual([
      { text: "plain", n: -3 },
      { text: odd, n: 7 },
    ]);
    expect(typeof back[0].n).toBe("number");
  });
});

describe("the task list's device filter", () => {
  test("a filter matching more devices than a statement holds placeholders lists their tasks, and the API's pages count them", async () => {
    const { org, actor } = await makeOrg(db);
    // 33,000 devices whose names all hold "fleet": past SQLite's 32,766 placeholders.
    const names = Array.from({ length: 33_000 }, (_, i) => `fleet-${i + 1}`);
    await withTransaction({ db }, async (tx) => {
      for (let i = 0; i < names.length; i += 1000) {
        await tx.insert(devices).values(names.slice(i, i + 1000).map((name) => ({ id: randomUUID(), organizationId: org.id, name, status: "ENABLED" as const, enrolledAt: new Date() })));
      }
    });
    const { fanout } = await issueFanout({ db, actor }, { type: "SYNC", targets: { devices: [names[0], names[32_999]] } });
    const ctx = { db, actor };
    const listed = await listTasks(ctx, { filter: { device: "FLEET" } });
    expect(listed.items.map((t) => t.device).sort()).toEqual([names[0], names[32_999]].sort());
    expect(listed.items.every((t) => t.fanout === fanout)).toBe(true);
    const paged = await pageTasks(ctx, { filter: { device: "fleet" }, page: 1, perPage: 30 });
    expect(paged.total).toBe(2);
    expect((await listTasks(ctx, { filter: { device: "fleet-32999" } })).items.map((t) => t.device)).toEqual([]);
    expect((await listTasks(ctx, { filter: { device: "fleet-33000" } })).items.map((t) => t.device)).toEqual([names[32_999]]);
  });
});
