// A fan-out's task codes are random and handed out in ascending order, so that its INSERT meets
// the code's unique index in the index's own order (docs/performance.md, "A fan-out's codes in
// the order of their index").
import { asc, eq } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { fanouts, tasks } from "../../db/schema";
import { issueFanout } from "../../lib/tasks/issue";
import { randomCodesInOrder } from "../../lib/tasks/codes-in-order";
import { ALPHABET, CODE_PATTERN } from "../../rules/codes";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";

const ascending = (codes: readonly string[]) => codes.every((c, i) => i === 0 || codes[i - 1] < c);

describe("codes drawn in order", () => {
  test("as many as asked, each a code, ascending, none twice, spread over every first character", async () => {
    let turns = 0;
    const codes = await randomCodesInOrder(20_000, async () => void turns++, 500);
    expect(codes).toHaveLength(20_000);
    expect(codes.every((c) => CODE_PATTERN.test(c))).toBe(true);
    expect(ascending(codes)).toBe(true);
    expect(new Set(codes).size).toBe(20_000);
    // 20,000 draws leave none of the 62 first characters out but with a chance of about 1e-139.
    expect(new Set(codes.map((c) => c[0])).size).toBe(ALPHABET.length);
    // A turn between the draws of 500 and before each group's sort.
    expect(turns).toBe(20_000 / 500 - 1 + ALPHABET.length);
  });

  test("sizes that are not a whole number of draws, and none", async () => {
    const pace = async () => {};
    expect(await randomCodesInOrder(0, pace)).toEqual([]);
    const odd = await randomCodesInOrder(1_234, pace, 500);
    expect(odd).toHaveLength(1_234);
    expect(ascending(odd)).toBe(true);
  });

  test("a fan-out's tasks: their codes ascend with their ids, each on its device as answered", async () => {
    const db = await freshDb();
    const { org, actor } = await makeOrg(db);
    const devices = await makeDevices(db, org.id, 1_200);
    const res = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } });
    expect(res.total).toBe(1_200);
    expect(ascending(res.tasks.map((t) => t.code))).toBe(true);

    const [fo] = await db.select().from(fanouts).where(eq(fanouts.code, res.fanout));
    const rows = await db.select({ code: tasks.code, deviceId: tasks.deviceId }).from(tasks).where(eq(tasks.fanoutId, fo.id)).orderBy(asc(tasks.id));
    expect(rows.map((r) => r.code)).toEqual(res.tasks.map((t) => t.code));
    const nameOf = new Map(devices.map((d) => [d.id, d.name]));
    expect(rows.map((r) => nameOf.get(r.deviceId))).toEqual(res.tasks.map((t) => t.device));
  });
});
