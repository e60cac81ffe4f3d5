// The server's clock with real agents (docs/agent-protocol.md §6): scheduled tasks fire and
// are dispatched, waiting tasks expire, running ones run out of lease, and what came due
// while the server was down is settled at start-up, before it listens. Time is moved by
// setting a task's due column nearer, or into the past (the task is not final, so that is allowed);
// a clock that re-reads the database every 200 ms then acts within a second.
import { createPublicKey } from "node:crypto";
import { describe, expect, test } from "vitest";
import { verifyTaskMessage } from "../../lib/agents/envelope";
import { EXPIRED_MESSAGE, leaseMessage } from "../../lib/tasks/due";
import { acceptNext, agentServerFixture, closeAgentsAfterEach, deviceRow, taskRow, waitFor, waitForStatus } from "../support/agents";
import { rawRun } from "../support/raw";

closeAgentsAfterEach();

const DAY = 86_400_000;
const SERVER_START_MS = 180_000;

describe("the clock while running", () => {
  const ctx = agentServerFixture({ env: { TASKWIRE_CLOCK_MAX_SLEEP_MS: "200" } });

  test("a task scheduled 1.5 s ahead fires to PENDING when due and is dispatched to the connected agent at once", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    // Issued an hour ahead, so that a slow POST cannot reach its time first, then moved to 1.5 s ahead.
    const ahead = Date.now() + 3_600_000;
    const task = await ctx.issue(name, "SYNC", { scheduled_at: new Date(ahead).toISOString() });
    expect(task.status).toBe("SCHEDULED");
    expect(Date.parse(task.expires_at)).toBe(ahead + DAY);
    expect((await taskRow(ctx.dbFile, task.code))).toMatchObject({ status: "SCHEDULED", scheduled_at: ahead });
    const at = Date.now() + 1_500;
    expect(await rawRun(ctx.dbFile, "update tasks set scheduled_at = ? where code = ? and status = 'SCHEDULED'", at, task.code)).toBe(1);

    const d = await agent.nextTask(5_000);
    expect(d.msg.code).toBe(task.code);
    expect(d.receivedAt).toBeGreaterThanOrEqual(at);
    const row = (await taskRow(ctx.dbFile, task.code))!;
    expect(row.status).toBe("PENDING");
    expect(row.updated_at).toBeGreaterThanOrEqual(at);
    d.ack({ accepted: true });
    await waitForStatus(ctx.dbFile, task.code, "IN_PROGRESS");
  });

  test("a scheduled task of an offline device fires to PENDING and reaches the agent when it connects", async () => {
    const { name, creds } = await ctx.device();
    const task = await ctx.issue(name, "BACKUP", { scheduled_at: new Date(Date.now() + 3_600_000).toISOString() });
    expect(task.status).toBe("SCHEDULED");
    expect(await rawRun(ctx.dbFile, "update tasks set scheduled_at = ? where code = ? and status = 'SCHEDULED'", Date.now() + 1_000, task.code)).toBe(1);
    await waitForStatus(ctx.dbFile, task.code, "PENDING", 5_000);
    const agent = await ctx.connect(creds);
    await acceptNext(ctx, agent, task.code);
  });

  test("a PENDING task past its expiry becomes EXPIRED, is never sent, and its result is `final`", async () => {
    const { name, creds } = await ctx.device();
    const task = await ctx.issue(name, "SYNC");
    expect(await rawRun(ctx.dbFile, "update tasks set expires_at = ? where code = ? and status = 'PENDING'", Date.now() - 1_000, task.code)).toBe(1);
    const row = await waitForStatus(ctx.dbFile, task.code, "EXPIRED", 3_000);
    expect(row.message).toBe(EXPIRED_MESSAGE);
    expect(row.message).toBe("Device did not pick the task up before it expired");
    expect(row.finished_at).toEqual(expect.any(Number));
    expect(row.started_at).toBeNull();

    // On connect, waiting tasks come first: the first delivery being a new task shows the
    // expired one was not sent.
    const agent = await ctx.connect(creds);
    const fresh = await ctx.issue(name, "PULL");
    expect((await agent.nextTask()).msg.code).toBe(fresh.code);
    expect(await agent.send("result", { code: task.code, status: "COMPLETED", message: "applied" })).toEqual({ ok: false, error: "final" });
  });

  test("an IN_PROGRESS task out of lease FAILS with the type's lease in the message (PING 2 min, RESTART 5 min)", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const ping = await ctx.issue(name, "PING", { payload: { host: "1.1.1.1" } });
    await acceptNext(ctx, agent, ping.code);
    const restart = await ctx.issue(name, "RESTART");
    await acceptNext(ctx, agent, restart.code);
    const untouched = await ctx.issue(name, "SYNC");
    await acceptNext(ctx, agent, untouched.code);

    for (const code of [ping.code, restart.code]) {
      expect(await rawRun(ctx.dbFile, "update tasks set lease_expires_at = ? where code = ? and status = 'IN_PROGRESS'", Date.now() - 1_000, code)).toBe(1);
    }
    const pingRow = await waitForStatus(ctx.dbFile, ping.code, "FAILED", 3_000);
    expect(pingRow.message).toBe("No result from the agent within 2 minutes");
    expect(pingRow.message).toBe(leaseMessage(2));
    const restartRow = await waitForStatus(ctx.dbFile, restart.code, "FAILED", 3_000);
    expect(restartRow.message).toBe("No result from the agent within 5 minutes");

    // A result arriving after the lease ran out is too late; the task with time left is not touched.
    expect(await agent.send("result", { code: ping.code, status: "COMPLETED", message: "4 packets received" })).toEqual({ ok: false, error: "final" });
    expect((await taskRow(ctx.dbFile, untouched.code))!.status).toBe("IN_PROGRESS");
    expect(await agent.send("result", { code: untouched.code, status: "COMPLETED", message: "applied" })).toEqual({ ok: true });
  });
});

describe("reconciliation at start-up", () => {
  // This clock sleeps up to an hour: whatever the test moves into the past stays put until
  // the server restarts, so only the start-up pass can settle it.
  const ctx = agentServerFixture({ env: { TASKWIRE_CLOCK_MAX_SLEEP_MS: "3600000" } });

  // The restart is a whole server start (quick_check, migrations, the reconciliation, Next's
  // start-up), which on a busy machine alone can outlast the default test time: the test has
  // the time a suite's server start has (vitest.config.ts hookTimeout), so what bounds the
  // start-up is its own limit in tests/support/server.ts.
  test("what came due while the server was down is fired, expired and failed before it listens", async () => {
    const a = await ctx.device();
    const b = await ctx.device();
    const keyBefore = (await ctx.api.get<{ public_key: string }>("/agent/server-key")).body.public_key;
    const agent = await ctx.connect(a.creds);
    const running = await ctx.issue(a.name, "PING", { payload: { host: "1.1.1.1" } });
    const accepted = await acceptNext(ctx, agent, running.code);
    const scheduled = await ctx.issue(a.name, "BACKUP", { scheduled_at: new Date(Date.now() + 3_600_000).toISOString() });
    const waiting = await ctx.issue(b.name, "SYNC");
    agent.close();
    await waitFor("the device to go offline", async () => (await deviceRow(ctx.dbFile, a.creds.device_id))!.online === 0);

    const past = Date.now() - 60_000;
    await rawRun(ctx.dbFile, "update tasks set lease_expires_at = ? where code = ?", past, running.code);
    await rawRun(ctx.dbFile, "update tasks set scheduled_at = ? where code = ?", past, scheduled.code);
    await rawRun(ctx.dbFile, "update tasks set expires_at = ? where code = ?", past, waiting.code);
    // A crash would leave devices marked online.
    await rawRun(ctx.dbFile, "update devices set online = true where id = ?", b.creds.device_id);
    expect(await Promise.all([running, scheduled, waiting].map(async (t) => (await taskRow(ctx.dbFile, t.code))!.status))).toEqual(["IN_PROGRESS", "SCHEDULED", "PENDING"]);

    const down = Date.now();
    await ctx.server.restart();
    // Settled before the server listened: read at once, no waiting.
    const failed = (await taskRow(ctx.dbFile, running.code))!;
    expect(failed).toMatchObject({ status: "FAILED", message: "No result from the agent within 2 minutes" });
    expect(failed.finished_at).toBeGreaterThanOrEqual(down);
    const expired = (await taskRow(ctx.dbFile, waiting.code))!;
    expect(expired).toMatchObject({ status: "EXPIRED", message: EXPIRED_MESSAGE });
    expect(expired.finished_at).toBeGreaterThanOrEqual(down);
    const fired = (await taskRow(ctx.dbFile, scheduled.code))!;
    expect(fired.status).toBe("PENDING");
    expect(fired.updated_at).toBeGreaterThanOrEqual(down);
    expect((await deviceRow(ctx.dbFile, b.creds.device_id))!.online).toBe(0);

    // The key survives the restart, and so does the sequence: the fired task reaches the
    // agent on connect with a higher seq than anything it saw before.
    const keyAfter = (await ctx.api.get<{ public_key: string }>("/agent/server-key")).body.public_key;
    expect(keyAfter).toBe(keyBefore);
    const again = await ctx.connect(a.creds);
    const d = await again.nextTask();
    expect(d.msg.code).toBe(scheduled.code);
    expect(d.msg.seq).toBeGreaterThan(accepted.msg.seq);
    expect(verifyTaskMessage(d.msg, { publicKey: createPublicKey(keyAfter), deviceId: a.creds.device_id, lastSeq: accepted.msg.seq }).ok).toBe(true);
    d.ack({ accepted: true });
    await waitForStatus(ctx.dbFile, scheduled.code, "IN_PROGRESS");
  }, SERVER_START_MS);
});
