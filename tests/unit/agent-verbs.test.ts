// The agents' verbs as the bulk writer runs them, a batch at a time: every result of a batch
// is answered on its own, and each task moves once, the legal way, with its events.
import { describe, expect, test } from "vitest";
import { AgentMoves } from "../../lib/agents/moves";
import type { Ctx } from "../../db/transaction";
import { recordAgentMoves } from "../../lib/tasks/agent-verbs";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { capture, taskByCode, taskInStatus, transitionsOf } from "./helpers";

const db = await freshDb();

// A batch of acknowledgements alone, and of results alone.
const acceptTasks = async (ctx: Ctx, items: { deviceId: string; code: string }[]) => (await recordAgentMoves(ctx, items, [])).accepted;
const reportResults = async (ctx: Ctx, items: { deviceId: string; raw: unknown }[]) => (await recordAgentMoves(ctx, [], items)).results;

async function setup() {
  const { org, actor } = await makeOrg(db);
  const [a, b] = await makeDevices(db, org.id, 2, { prefix: "fw" });
  return { actor, a, b };
}

describe("acceptTasks", () => {
  test("moves each PENDING task once; a second acknowledgement, another device's or a task not PENDING moves nothing", async () => {
    const { actor, a, b } = await setup();
    const pending = await taskInStatus(db, actor, a.name, "PENDING");
    const other = await taskInStatus(db, actor, b.name, "PENDING");
    const running = await taskInStatus(db, actor, a.name, "IN_PROGRESS");
    const { result, events } = await capture(() =>
      acceptTasks({ db }, [
        { deviceId: a.id, code: pending.code },
        { deviceId: a.id, code: pending.code },
        { deviceId: a.id, code: other.code },
        { deviceId: a.id, code: running.code },
        { deviceId: a.id, code: "Zz000000" },
      ]),
    );
    expect(result).toEqual([true, false, false, false, false]);
    expect(transitionsOf(events).map((e) => [e.code, e.from, e.to])).toEqual([[pending.code, "PENDING", "IN_PROGRESS"]]);
    const row = await taskByCode(db, pending.code);
    expect((await row).status).toBe("IN_PROGRESS");
    expect((await row).startedAt).not.toBeNull();
    expect((await row).leaseExpiresAt!.getTime()).toBeGreaterThan((await row).startedAt!.getTime());
    expect((await taskByCode(db, other.code)).status).toBe("PENDING");
  });
});

describe("reportResults", () => {
  test("a result without a message, or with keys the protocol does not name, is recorded", async () => {
    const { actor, a } = await setup();
    const quiet = await taskInStatus(db, actor, a.name, "IN_PROGRESS");
    const newer = await taskInStatus(db, actor, a.name, "IN_PROGRESS");
    const { result } = await capture(() =>
      reportResults({ db }, [
        { deviceId: a.id, raw: { code: quiet.code, status: "COMPLETED" } },
        { deviceId: a.id, raw: { code: newer.code, status: "FAILED", message: "exit 3", exit_code: 3, duration_ms: 1200 } },
      ]),
    );
    expect(result).toEqual([{ ok: true }, { ok: true }]);
    expect(await taskByCode(db, quiet.code)).toMatchObject({ status: "COMPLETED", message: "" });
    expect(await taskByCode(db, newer.code)).toMatchObject({ status: "FAILED", message: "exit 3" });
  });

  test("one batch: each result answered on its own, each task moved once and legally", async () => {
    const { actor, a, b } = await setup();
    const running = await taskInStatus(db, actor, a.name, "IN_PROGRESS");
    const lostAck = await taskInStatus(db, actor, a.name, "PENDING");
    const twice = await taskInStatus(db, actor, a.name, "IN_PROGRESS");
    const torn = await taskInStatus(db, actor, a.name, "IN_PROGRESS");
    const done = await taskInStatus(db, actor, a.name, "COMPLETED");
    const scheduled = await taskInStatus(db, actor, a.name, "SCHEDULED");
    const others = await taskInStatus(db, actor, b.name, "IN_PROGRESS");
    const r = (code: string, status: string, message = "m") => ({ deviceId: a.id, raw: { code, status, message } });
    const { result, events } = await capture(() =>
      reportResults({ db }, [
        r(running.code, "COMPLETED", "all good"),
        r(lostAck.code, "FAILED", "no route"),
        r(twice.code, "COMPLETED"),
        r(twice.code, "COMPLETED"),
        r(torn.code, "COMPLETED"),
        r(torn.code, "FAILED"),
        r(done.code, "COMPLETED"),
        r(done.code, "FAILED"),
        r(scheduled.code, "COMPLETED"),
        r(others.code, "COMPLETED"),
        r("Zz000000", "COMPLETED"),
        { deviceId: a.id, raw: { code: running.code, status: "DONE", message: "" } },
      ]),
    );
    expect(result).toEqual([
      { ok: true },
      { ok: true },
      { ok: true },
      { ok: true },
      { ok: true },
      { ok: false, error: "final" },
      { ok: true },
      { ok: false, error: "final" },
      { ok: false, error: "not_found" },
      { ok: false, error: "not_found" },
      { ok: false, error: "not_found" },
      { ok: false, error: "invalid" },
    ]);
    expect((await taskByCode(db, running.code))).toMatchObject({ status: "COMPLETED", message: "all good" });
    expect((await taskByCode(db, lostAck.code))).toMatchObject({ status: "FAILED", message: "no route" });
    expect((await taskByCode(db, torn.code)).status).toBe("COMPLETED");
    expect((await taskByCode(db, scheduled.code)).status).toBe("SCHEDULED");
    expect((await taskByCode(db, others.code)).status).toBe("IN_PROGRESS");
    // The task whose acknowledgement was lost goes through IN_PROGRESS; every task moves once.
    expect(transitionsOf(events).map((e) => [e.code, e.from, e.to])).toEqual([
      [lostAck.code, "PENDING", "IN_PROGRESS"],
      [running.code, "IN_PROGRESS", "COMPLETED"],
      [lostAck.code, "IN_PROGRESS", "FAILED"],
      [twice.code, "IN_PROGRESS", "COMPLETED"],
      [torn.code, "IN_PROGRESS", "COMPLETED"],
    ]);
    const row = await taskByCode(db, lostAck.code);
    expect((await row).startedAt!.getTime()).toBe((await row).finishedAt!.getTime());
  });
});

describe("acknowledgements and results in one batch", () => {
  test("a task's acknowledgement and its result written together: started by the one, finished by the other, each move once", async () => {
    const { actor, a } = await setup();
    const task = await taskInStatus(db, actor, a.name, "PENDING");
    const alone = await taskInStatus(db, actor, a.name, "PENDING");
    const { result, events } = await capture(() =>
      recordAgentMoves(
        { db },
        [
          { deviceId: a.id, code: task.code },
          { deviceId: a.id, code: alone.code },
        ],
        [{ deviceId: a.id, raw: { code: task.code, status: "COMPLETED", message: "ok" } }],
      ),
    );
    expect(result).toEqual({ accepted: [true, true], results: [{ ok: true }] });
    expect(transitionsOf(events).map((e) => [e.code, e.from, e.to])).toEqual([
      [task.code, "PENDING", "IN_PROGRESS"],
      [alone.code, "PENDING", "IN_PROGRESS"],
      [task.code, "IN_PROGRESS", "COMPLETED"],
    ]);
    expect((await taskByCode(db, task.code)).status).toBe("COMPLETED");
    expect((await taskByCode(db, alone.code)).status).toBe("IN_PROGRESS");
  });

  test("AgentMoves answers each caller of the batches gathered in one turn: acknowledgements with whether they moved, results with their answer", async () => {
    const { actor, a } = await setup();
    const task = await taskInStatus(db, actor, a.name, "PENDING");
    const taken = await taskInStatus(db, actor, a.name, "PENDING");
    const done = await taskInStatus(db, actor, a.name, "COMPLETED");
    const moves = new AgentMoves(db);
    const answers = await Promise.all([
      moves.result(a.id, { code: task.code, status: "FAILED", message: "no route" }),
      moves.accept(a.id, taken.code),
      moves.accept(a.id, done.code),
      moves.result(a.id, { code: done.code, status: "FAILED", message: "late" }),
      moves.result(a.id, { nonsense: true }),
    ]);
    expect(answers).toEqual([{ ok: true }, true, false, { ok: false, error: "final" }, { ok: false, error: "invalid" }]);
    expect(await taskByCode(db, task.code)).toMatchObject({ status: "FAILED", message: "no route" });
    expect((await taskByCode(db, taken.code)).status).toBe("IN_PROGRESS");
  });
});

describe("a task's times never go back", () => {
  test("a result read before the acknowledgement committed (writers meeting out of clock order) finishes the task no earlier than it started", async () => {
    const { actor, a } = await setup();
    const pending = await taskInStatus(db, actor, a.name, "PENDING");
    const started = await taskInStatus(db, actor, a.name, "PENDING");
    // The acknowledgement is recorded 5 s ahead of the result's clock, as one waiting behind
    // the other's commit would leave it.
    const ahead = Date.now() + 5_000;
    const { vi } = await import("vitest");
    vi.useFakeTimers({ now: ahead, toFake: ["Date"] });
    try {
      expect(await acceptTasks({ db }, [{ deviceId: a.id, code: started.code }])).toEqual([true]);
    } finally {
      vi.useRealTimers();
    }
    const { result, events } = await capture(() =>
      reportResults({ db }, [
        { deviceId: a.id, raw: { code: started.code, status: "COMPLETED", message: "ok" } },
        { deviceId: a.id, raw: { code: pending.code, status: "COMPLETED", message: "ok" } },
      ]),
    );
    expect(result).toEqual([{ ok: true }, { ok: true }]);
    const row = await taskByCode(db, started.code);
    expect(row.startedAt!.getTime()).toBe(ahead);
    expect(row.updatedAt.getTime()).toBe(ahead);
    expect(row.finishedAt!.getTime()).toBe(ahead);
    const finished = transitionsOf(events).find((e) => e.code === started.code)!;
    expect(finished.at).toBe(ahead);
    // One started and finished by the result alone keeps the result's time.
    const other = await taskByCode(db, pending.code);
    expect(other.finishedAt!.getTime()).toBeLessThan(ahead);
    expect(other.finishedAt!.getTime()).toBeGreaterThanOrEqual(other.startedAt!.getTime());
  });
});
