// Pause and Resume with real agents on the real server: while a fan-out is paused nothing of
// it reaches an agent, not on connect nor when due; Resume sends what waited at once.
import { describe, expect, test } from "vitest";
import { agentServerFixture, closeAgentsAfterEach, waitForStatus } from "../support/agents";
import { expectError, type Issued } from "../support/api";

closeAgentsAfterEach();

describe("pausing a fan-out", () => {
  const ctx = agentServerFixture();
  const as = () => ({ token: ctx.tokens.acmeWrite! });

  test("holds its tasks back from agents that connect; Resume sends them; a second press is told", async () => {
    const a = await ctx.device();
    const b = await ctx.device();
    const issued = await ctx.api.post<Issued>("/tasks", { as: as(), json: { type: "SYNC", targets: { devices: [a.name, b.name] } } });
    expect(issued.status).toBe(201);
    const code = (name: string) => issued.body.tasks.find((t) => t.device === name)!.code;
    const paused = await ctx.api.put<{ outcome: string; paused_at: string; pause_reason: string }>(`/fanouts/${issued.body.fanout}/pause`, { as: as() });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ outcome: "paused", pause_reason: expect.stringMatching(/^Paused by /) });
    expectError(await ctx.api.put(`/fanouts/${issued.body.fanout}/pause`, { as: as() }), 409, "conflict");

    // Agent A connects: the server sends its waiting tasks on connect, except the paused
    // fan-out's; a task issued after, outside the fan-out, is the first A receives.
    const agentA = await ctx.connect(a.creds);
    const control = await ctx.issue(a.name, "PING", { payload: { host: "192.0.2.1" } });
    const first = await agentA.nextTask();
    expect(first.msg.code).toBe(control.code);

    const resumed = await ctx.api.put<{ outcome: string; paused_at: string | null }>(`/fanouts/${issued.body.fanout}/resume`, { as: as() });
    expect(resumed.body).toMatchObject({ outcome: "running", paused_at: null });
    const released = await agentA.nextTask();
    expect(released.msg.code).toBe(code(a.name));
    released.ack({ accepted: true });
    await waitForStatus(ctx.dbFile, code(a.name), "IN_PROGRESS");
    const agentB = await ctx.connect(b.creds);
    expect((await agentB.nextTask()).msg.code).toBe(code(b.name));
    expectError(await ctx.api.put(`/fanouts/${issued.body.fanout}/resume`, { as: as() }), 409, "conflict");
  });

  test("a finished fan-out cannot be paused; a read-only caller cannot pause; another organization's is 404", async () => {
    const a = await ctx.device();
    const issued = await ctx.api.post<Issued>("/tasks", { as: as(), json: { type: "SYNC", targets: { devices: [a.name] } } });
    expect((await ctx.api.put(`/fanouts/${issued.body.fanout}/cancel`, { as: as() })).status).toBe(200);
    const refused = await ctx.api.put(`/fanouts/${issued.body.fanout}/pause`, { as: as() });
    expectError(refused, 409, "conflict");
    expect(refused.body.error.message).toContain("has finished");
    expectError(await ctx.api.put(`/fanouts/${issued.body.fanout}/pause`, { as: { token: ctx.tokens.acmeReadOnly! } }), 403, "forbidden");
    expectError(await ctx.api.put(`/fanouts/${issued.body.fanout}/pause`, { as: { token: ctx.tokens.globex! } }), 404, "not_found");
  });
});
