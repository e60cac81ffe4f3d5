// Text and numbers the database cannot take. PostgreSQL refuses U+0000 in text and JSON, half
// of a surrogate pair in JSON, and a number past its `bigint` where a row's id is compared;
// SQLite takes the text. Either way the answer is the domain's, the same on both, and nothing
// is written: never the database's error.
import { eq } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { schedules, tasks } from "../../db/schema";
import { ROW_ID_MAX } from "../../rules/codes";
import { createSchedule, getSchedule } from "../../lib/schedules/schedules";
import { recordAgentMoves } from "../../lib/tasks/agent-verbs";
import { issueFanout } from "../../lib/tasks/issue";
import { listTasks } from "../../lib/tasks/queries";
import { refuseUnstorable, storableText, unstorableAt, UNSTORABLE_MESSAGE } from "../../lib/validation";
import type { DomainError } from "../../lib/errors";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { countTasks, expectDomainError, taskByCode, thrown } from "./helpers";

const db = await freshDb();

const NUL = "\u0000";
const HALF_PAIR = "\ud800";

describe("where text that cannot be stored is", () => {
  test("named by its path, a key or a value, however deep", () => {
    expect(unstorableAt({ a: ["ok", { b: `x${NUL}` }] })).toEqual(["a", 1, "b"]);
    expect(unstorableAt({ [`k${HALF_PAIR}`]: 1 })).toEqual([`k${HALF_PAIR}`]);
    expect(unstorableAt({ a: ["ok", "😀", { b: "fine" }], n: 1, d: new Date() })).toBeNull();
    // What JSON, a form or a query cannot hold is not walked: bytes a socket may carry, each
    // object once (an action's arguments may refer to themselves).
    expect(unstorableAt({ bytes: new Uint8Array(1_000_000), text: new Map([["k", NUL]]) })).toBeNull();
    const cyclic: Record<string, unknown> = { a: "ok" };
    cyclic.self = cyclic;
    cyclic.list = [cyclic, `x${NUL}`];
    expect(unstorableAt(cyclic)).toEqual(["list", 1]);
    let deep: unknown = NUL;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(unstorableAt(deep)).toHaveLength(10_000);
  });

  test("deep input is named by where it starts", () => {
    let deep: unknown = NUL;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const e = thrown(() => refuseUnstorable(deep)) as DomainError;
    expect(e.fieldErrors).toEqual({ [`${Array(20).fill(0).join(".")}.…`]: [UNSTORABLE_MESSAGE] });
  });

  test("kept as it can be stored where it is kept rather than refused", () => {
    expect(storableText(`a${NUL}b${HALF_PAIR}c😀`)).toBe("a\uFFFDb\uFFFDc😀");
  });
});

describe("bad text at the domain's boundary: a validation error naming the field, nothing written", () => {
  test("a schedule's name, a device name in its targets", async () => {
    const { org, actor } = await makeOrg(db);
    const spec = { name: "nightly", type: "SYNC", targets: { all: true }, cron: "0 3 * * *", timezone: "UTC" };
    for (const [raw, field] of [
      [{ ...spec, name: `night${NUL}ly` }, "name"],
      [{ ...spec, targets: { devices: [`fw${HALF_PAIR}`] } }, "targets.devices.0"],
    ] as const) {
      const e = await expectDomainError(() => createSchedule({ db, actor }, raw), "invalid");
      expect(e.fieldErrors).toEqual({ [field]: [UNSTORABLE_MESSAGE] });
    }
    expect(await db.select({ id: schedules.id }).from(schedules).where(eq(schedules.organizationId, org.id))).toEqual([]);
  });

  test("a fan-out's target, a list's device filter", async () => {
    const { org, actor } = await makeOrg(db);
    const [d] = await makeDevices(db, org.id, 1);
    const before = await countTasks(db);
    const e = await expectDomainError(() => issueFanout({ db, actor }, { type: "SYNC", targets: { devices: [d.name, `${d.name}${NUL}`] } }), "invalid");
    expect(e.fieldErrors).toEqual({ "targets.devices.1": [UNSTORABLE_MESSAGE] });
    expect(await countTasks(db)).toBe(before);
    const f = await expectDomainError(() => listTasks({ db, actor }, { filter: { device: NUL } }), "invalid");
    expect(f.fieldErrors).toEqual({ device: [UNSTORABLE_MESSAGE] });
  });

  test("a schedule's number past any row's, or not written in decimal digits: not a schedule id", async () => {
    const { actor } = await makeOrg(db);
    for (const id of [ROW_ID_MAX + 1, 1e300, "9007199254740993", "99999999999999999999", "0x1", "1e0", " 1", "+1", "1.0", "", true, [1], null]) {
      const e = await expectDomainError(() => getSchedule({ db, actor }, id), "invalid");
      expect(e.message).toBe("Not a schedule id");
    }
    await expectDomainError(() => getSchedule({ db, actor }, ROW_ID_MAX), "not_found");
  });
});

describe("an agent's output the database cannot take as it is", () => {
  test("is kept with U+FFFD in its place, and the other results of its batch are kept too", async () => {
    const { org, actor } = await makeOrg(db);
    const [a, b] = await makeDevices(db, org.id, 2);
    const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { devices: [a.name, b.name] } });
    const moves = issued.tasks.map((t) => ({ deviceId: (t.device === a.name ? a : b).id, code: t.code }));
    await recordAgentMoves({ db }, moves, []);
    const messages = [`binary${NUL}output`, `cut at half ${HALF_PAIR}`];
    const { results } = await recordAgentMoves({ db }, [], moves.map((m, i) => ({ deviceId: m.deviceId, raw: { code: m.code, status: "COMPLETED", message: messages[i] } })));
    expect(results).toEqual([{ ok: true }, { ok: true }]);
    const kept = await Promise.all(moves.map((m) => taskByCode(db, m.code)));
    expect(kept.map((t) => [t.status, t.message])).toEqual([
      ["COMPLETED", "binary\uFFFDoutput"],
      ["COMPLETED", "cut at half \uFFFD"],
    ]);
    expect(await db.select({ n: tasks.id }).from(tasks).where(eq(tasks.fanoutId, kept[0].fanoutId!))).toHaveLength(2);
  });
});
