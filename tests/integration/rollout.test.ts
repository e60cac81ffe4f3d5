// Staged rollouts with real agents on the real server: a canary that fails trips the breaker
// and no later wave reaches an agent; Resume goes on wave by wave; Continue opens a wave that
// waits for it; a policy that does not add up is refused naming its field, and nothing is issued.
import { describe, expect, test } from "vitest";
import { agentServerFixture, closeAgentsAfterEach, waitFor, waitForStatus, type TestAgent } from "../support/agents";
import { expectError, type Issued } from "../support/api";

closeAgentsAfterEach();

type FanoutView = { outcome: string; pause_reason: string | null; rollout: { wave: number; waves: number; state: string; wave_sizes: number[]; policy: Record<string, unknown> } | null };

describe("a staged rollout", () => {
  const ctx = agentServerFixture();
  const as = () => ({ token: ctx.tokens.acmeWrite! });

  /** Connected agents of fresh devices, by device name. */
  async function agents(n: number) {
    const out = new Map<string, TestAgent>();
    for (let i = 0; i < n; i++) {
      const d = await ctx.device();
      out.set(d.name, await ctx.connect(d.creds));
    }
    return out;
  }

  /** Takes the next task of each agent named, runs it, and reports `status`. */
  async function run(fleet: Map<string, TestAgent>, names: string[], status: "COMPLETED" | "FAILED") {
    for (const name of names) {
      const d = await fleet.get(name)!.nextTask(15_000);
      d.ack({ accepted: true });
      await waitForStatus(ctx.dbFile, d.msg.code, "IN_PROGRESS", 15_000);
      expect(await fleet.get(name)!.send("result", { code: d.msg.code, status, message: status === "FAILED" ? "Disk full on /conf" : "applied" })).toEqual({ ok: true });
      await waitForStatus(ctx.dbFile, d.msg.code, status, 15_000);
    }
  }

  const view = async (code: string) => (await ctx.api.get<FanoutView>(`/fanouts/${code}`, { as: as() })).body;

  test("a failing canary trips the breaker: later waves never reach an agent; Resume goes on to the end", async () => {
    const fleet = await agents(5);
    const names = [...fleet.keys()];
    const issued = await ctx.api.post<Issued>("/tasks", {
      as: as(),
      json: { type: "SYNC", targets: { devices: names }, rollout: { canary: 1, waves: ["2", "rest"], breaker: { failed_percent: 5, min_finished: 1 } } },
    });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const wave1 = issued.body.tasks.filter((t) => t.status === "PENDING").map((t) => t.device);
    expect(wave1).toHaveLength(1);
    expect(issued.body.tasks.filter((t) => t.status === "SCHEDULED")).toHaveLength(4);

    await run(fleet, wave1, "FAILED");
    await waitFor("the breaker to trip", async () => (await view(issued.body.fanout)).outcome === "paused", 15_000);
    const tripped = await view(issued.body.fanout);
    expect(tripped.pause_reason).toBe("Stopped by its breaker: 1 of 1 finished tasks failed, more than 5%");
    expect(tripped.rollout).toMatchObject({ wave: 1, waves: 3, wave_sizes: [1, 2, 2] });
    // Nothing of wave 2 goes out, however long one waits (the driver's sweep runs meanwhile).
    for (const name of names.filter((n) => !wave1.includes(n))) await expect(fleet.get(name)!.nextTask(1_500)).rejects.toThrow(/no task delivered/);

    expect((await ctx.api.put(`/fanouts/${issued.body.fanout}/resume`, { as: as() })).status).toBe(200);
    const rest = names.filter((n) => !wave1.includes(n));
    await waitFor("wave 2 to open", async () => (await view(issued.body.fanout)).rollout?.wave === 2, 15_000);
    // Wave 2 is two devices, and only they get a task while it runs.
    await waitFor("wave 2's two tasks to reach their agents", () => rest.filter((n) => fleet.get(n)!.queued > 0).length === 2, 15_000);
    const second = rest.filter((n) => fleet.get(n)!.queued > 0);
    await expect(Promise.any(rest.filter((n) => !second.includes(n)).map((n) => fleet.get(n)!.nextTask(1_000)))).rejects.toThrow();
    await run(fleet, second, "COMPLETED");
    await run(
      fleet,
      rest.filter((n) => !second.includes(n)),
      "COMPLETED",
    );
    await waitFor("the fan-out to end", async () => (await view(issued.body.fanout)).outcome === "completed_with_failures", 15_000);
    expect((await view(issued.body.fanout)).rollout).toMatchObject({ wave: 3, state: "done" });
  });

  test("a wave that waits for Continue opens on it; Continue is refused while a wave runs", async () => {
    const fleet = await agents(2);
    const names = [...fleet.keys()];
    const issued = await ctx.api.post<Issued>("/tasks", { as: as(), json: { type: "SYNC", targets: { devices: names }, rollout: { canary: 1, between_waves: "continue" } } });
    expect(issued.status).toBe(201);
    const refused = await ctx.api.put(`/fanouts/${issued.body.fanout}/continue`, { as: as() });
    expectError(refused, 409, "conflict");
    expect(refused.body.error.message).toMatch(/Wave 1 of 2 .* still running/);
    const first = issued.body.tasks.find((t) => t.status === "PENDING")!.device;
    await run(fleet, [first], "COMPLETED");
    await waitFor("wave 1 to be done", async () => (await view(issued.body.fanout)).rollout?.state === "awaiting_continue", 15_000);
    const other = names.find((n) => n !== first)!;
    await expect(fleet.get(other)!.nextTask(1_000)).rejects.toThrow(/no task delivered/);
    expectError(await ctx.api.put(`/fanouts/${issued.body.fanout}/continue`, { as: { token: ctx.tokens.acmeReadOnly! } }), 403, "forbidden");
    expectError(await ctx.api.put(`/fanouts/${issued.body.fanout}/continue`, { as: { token: ctx.tokens.globex! } }), 404, "not_found");
    const continued = await ctx.api.put<FanoutView>(`/fanouts/${issued.body.fanout}/continue`, { as: as() });
    expect(continued.status).toBe(200);
    expect(continued.body.rollout).toMatchObject({ wave: 2, state: "running" });
    await run(fleet, [other], "COMPLETED");
  });

  test("a policy that does not add up is refused naming its field, and nothing is issued", async () => {
    const a = await ctx.device();
    const before = await ctx.api.get<{ total: number }>("/fanouts", { as: as() });
    // Larger than the target: known once the target is read.
    expectError(await ctx.api.post("/tasks", { as: as(), json: { type: "SYNC", targets: { devices: [a.name] }, rollout: { canary: 5 } } }), 422, "unprocessable", "rollout.canary");
    const cases: [unknown, string][] = [
      [{ waves: "150%" }, "rollout.waves"],
      [{ waves: ["5%", "0%"] }, "rollout.waves.1"],
      [{ breaker: { failed_percent: 5, min_finished: 0 } }, "rollout.breaker.min_finished"],
      [{ max_in_flight: 0 }, "rollout.max_in_flight"],
      [{ between_waves: { pause_minutes: -1 } }, "rollout.between_waves.pause_minutes"],
      ["reckless", "rollout"],
    ];
    for (const [rollout, field] of cases) {
      expectError(await ctx.api.post("/tasks", { as: as(), json: { type: "SYNC", targets: { devices: [a.name] }, rollout } }), 400, "invalid", field);
    }
    expect((await ctx.api.get<{ total: number }>("/fanouts", { as: as() })).body.total).toBe(before.body.total);
  });
});
