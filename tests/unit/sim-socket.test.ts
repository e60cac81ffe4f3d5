// SimAgent and Fleet over real HTTP and Socket.IO against a protocol-shaped stand-in
// server (tests/unit/sim-fixtures.ts). Synchronised on events, never on sleeps.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { SimAgent, type SimAgentEvent } from "../../lib/agents/sim/sim-agent";
import { Fleet, FleetError } from "../../lib/agents/sim/fleet";
import type { FleetState } from "../../lib/agents/sim/state";
import { fakeServer, seeded, serverKeys, signedTask, waiter, type FakeDevice } from "./sim-fixtures";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const device = (n: number, status: FakeDevice["status"] = "ENABLED"): FakeDevice => ({
  id: `00000000-0000-4000-9000-${String(n).padStart(12, "0")}`,
  token: `dev_token_${n}`,
  name: `sim-${String(n).padStart(4, "0")}`,
  status,
});

async function setup(opts: { devices: FakeDevice[]; onResult?: Parameters<typeof fakeServer>[0]["onResult"] }) {
  const keys = serverKeys();
  const server = await fakeServer({ publicKey: keys.publicKey, devices: opts.devices, onResult: opts.onResult });
  cleanups.push(server.close);
  return { keys, server };
}

function startAgent(url: string, d: FakeDevice, keys: ReturnType<typeof serverKeys>, extra: Partial<ConstructorParameters<typeof SimAgent>[0]> = {}) {
  const events = waiter<SimAgentEvent>();
  const agent = new SimAgent({
    url,
    name: d.name,
    deviceId: d.id,
    deviceToken: d.token,
    publicKey: keys.publicKey,
    random: seeded(11),
    speed: 100,
    retryDelayMs: () => 20,
    onEvent: events.feed,
    ...extra,
  });
  cleanups.push(() => agent.stop());
  agent.start();
  return { agent, events };
}

describe("SimAgent over Socket.IO", () => {
  test("handshake, task, ack, result, heartbeat", async () => {
    const d = device(1);
    const { keys, server } = await setup({ devices: [d] });
    const connected = server.events.next((e) => e.kind === "connected");
    const { agent, events } = startAgent(server.url, d, keys, { heartbeatSeconds: 0.05 });
    const agentConnected = events.next((e) => e.kind === "connected");
    const conn = await connected;
    if (conn.kind !== "connected") throw new Error("unreachable");
    await agentConnected;
    expect(agent.state).toBe("online");

    const heartbeat = server.events.next((e) => e.kind === "heartbeat");
    const result = server.events.next((e) => e.kind === "result");
    const ack = await conn.socket.timeout(5_000).emitWithAck("task", signedTask(keys.privateKey, { device_id: d.id, seq: 1, code: "RSTR0001", type: "RESTART" }));
    expect(ack).toEqual({ accepted: true });
    expect(await result).toMatchObject({ result: { code: "RSTR0001", status: "COMPLETED", message: "Agent restart scheduled via rc.d" } });
    expect(await heartbeat).toMatchObject({ body: { version: "1.9.1", uptime_seconds: expect.any(Number) } });

    // A refusal travels back through the same ack.
    const refused = await conn.socket.timeout(5_000).emitWithAck("task", signedTask(keys.privateKey, { device_id: d.id, seq: 1, code: "RSTR0002" }));
    expect(refused).toEqual({ accepted: false, reason: "replayed sequence number 1" });
  });

  test("a result whose ack never came is re-sent after reconnecting, until acknowledged", async () => {
    const d = device(1);
    let answered = 0;
    const { keys, server } = await setup({
      devices: [d],
      // First delivery: the server drops the connection instead of acknowledging.
      onResult: (_id, _r, socket) => {
        if (answered++ === 0) {
          socket.disconnect(true);
          return undefined;
        }
        return { ok: true };
      },
    });
    const firstConn = server.events.next((e) => e.kind === "connected");
    const { agent, events } = startAgent(server.url, d, keys);
    const conn = await firstConn;
    if (conn.kind !== "connected") throw new Error("unreachable");

    const recorded = events.next((e) => e.kind === "result-settled");
    const secondConn = server.events.next((e) => e.kind === "connected" && e.socket.id !== conn.socket.id);
    conn.socket.emit("task", signedTask(keys.privateKey, { device_id: d.id, seq: 1, code: "SYNC0001", type: "SYNC" }), () => {});
    await secondConn;
    expect(await recorded).toMatchObject({ result: { code: "SYNC0001", status: "COMPLETED" }, settlement: { outcome: "recorded" } });
    const sent = server.events.seen.filter((e) => e.kind === "result");
    expect(sent).toHaveLength(2);
    expect(agent.undelivered).toEqual([]);
  });

  test("REBOOT: ack, disconnect, come back, report", async () => {
    const d = device(1);
    const { keys, server } = await setup({ devices: [d] });
    const firstConn = server.events.next((e) => e.kind === "connected");
    startAgent(server.url, d, keys);
    const conn = await firstConn;
    if (conn.kind !== "connected") throw new Error("unreachable");
    const result = server.events.next((e) => e.kind === "result");
    const ack = await conn.socket.timeout(5_000).emitWithAck("task", signedTask(keys.privateKey, { device_id: d.id, seq: 1, code: "BOOT0001", type: "REBOOT" }));
    expect(ack).toEqual({ accepted: true });
    const r = await result;
    if (r.kind !== "result") throw new Error("unreachable");
    expect(r.result.message).toMatch(/^Device back online after reboot \(\d+ s\)$/);
    // Reported on a new connection: the first one was closed by the reboot.
    expect(conn.socket.connected).toBe(false);
    expect(server.events.seen.filter((e) => e.kind === "connected")).toHaveLength(2);
  });

  test("pending_approval is retried until approved", async () => {
    const d = device(1, "PENDING");
    const { keys, server } = await setup({ devices: [d] });
    const refused = server.events.next((e) => e.kind === "handshake" && e.refusal === "pending_approval");
    const { agent, events } = startAgent(server.url, d, keys, {
      // The approval happens between the first refusal and the retry.
      retryDelayMs: () => {
        d.status = "ENABLED";
        return 20;
      },
    });
    const connected = events.next((e) => e.kind === "connected");
    await refused;
    await connected;
    expect(agent.state).toBe("online");
    expect(events.seen.map((e) => e.kind)).toEqual(["refused", "connected"]);
  });

  test.each(["unauthorized", "deleted"] as const)("%s stops the agent for good", async (reason) => {
    const d = device(1);
    if (reason === "deleted") d.deleted = true;
    else d.token = "dev_rotated";
    const { keys, server } = await setup({ devices: [d] });
    const { agent, events } = startAgent(server.url, { ...device(1) }, keys);
    expect(await events.next((e) => e.kind === "revoked")).toEqual({ kind: "revoked", reason });
    expect(agent.state).toBe("revoked");
    expect(server.events.seen.filter((e) => e.kind === "handshake")).toHaveLength(1);
  });
});

describe("Fleet", () => {
  const quiet = () => {};
  const opts = (url: string, statePath: string, extra: Partial<ConstructorParameters<typeof Fleet>[0]> = {}) => ({
    url,
    registrationToken: "reg_good",
    count: 5,
    failRate: 0,
    offlineRate: 0.4,
    speed: 100,
    namePrefix: "sim",
    statePath,
    heartbeatSeconds: 60,
    enrollMissing: false,
    log: quiet,
    random: seeded(5),
    ...extra,
  });

  test("enrolls once, keeps the offline share offline, and reuses tokens after a restart", async () => {
    const keys = serverKeys();
    const server = await fakeServer({ publicKey: keys.publicKey, autoApprove: true });
    cleanups.push(server.close);
    const statePath = join(mkdtempSync(join(tmpdir(), "tw-sim-")), "agents.json");

    const fleet = new Fleet(opts(server.url, statePath));
    cleanups.push(() => fleet.stop());
    await fleet.start();
    expect(server.events.seen.filter((e) => e.kind === "enroll")).toHaveLength(5);
    const state = JSON.parse(readFileSync(statePath, "utf8")) as FleetState;
    expect(state.url).toBe(server.url);
    expect(state.agents.map((a) => a.name).sort()).toEqual(["sim-0001", "sim-0002", "sim-0003", "sim-0004", "sim-0005"]);
    // Agents 3 and 5 (floor(5 × 0.4) = 2, spread evenly) never connect.
    const connected = () => new Set(server.events.seen.flatMap((e) => (e.kind === "connected" ? [server.devices.get(e.deviceId)!.name] : [])));
    expect([...connected()].sort()).toEqual(["sim-0001", "sim-0002", "sim-0004"]);
    expect(fleet.summary()).toMatchObject({ online: 3, offlineByDesign: 2, notEnrolled: 0 });
    fleet.stop();

    const again = new Fleet(opts(server.url, statePath, { registrationToken: undefined }));
    cleanups.push(() => again.stop());
    await again.start();
    expect(server.events.seen.filter((e) => e.kind === "enroll")).toHaveLength(5);
    expect(again.summary().online).toBe(3);
  });

  test("a refused saved token is forgotten and, with enrollMissing, enrolled afresh", async () => {
    const keys = serverKeys();
    const server = await fakeServer({ publicKey: keys.publicKey, autoApprove: true });
    cleanups.push(server.close);
    const statePath = join(mkdtempSync(join(tmpdir(), "tw-sim-")), "agents.json");
    const first = new Fleet(opts(server.url, statePath, { count: 2, offlineRate: 0 }));
    await first.start();
    first.stop();

    // An admin deletes sim-0001 while the fleet is down.
    const gone = [...server.devices.values()].find((d) => d.name === "sim-0001")!;
    gone.deleted = true;
    const reconnected = server.events.next((e) => e.kind === "connected" && server.devices.get(e.deviceId)?.name === "sim-0001");
    const fleet = new Fleet(opts(server.url, statePath, { count: 2, offlineRate: 0, enrollMissing: true }));
    cleanups.push(() => fleet.stop());
    await fleet.start();
    const back = await reconnected;
    expect(back.kind === "connected" && back.deviceId).not.toBe(gone.id);
    const state = JSON.parse(readFileSync(statePath, "utf8")) as FleetState;
    expect(state.agents.find((a) => a.name === "sim-0001")?.device_id).not.toBe(gone.id);
    expect(state.agents).toHaveLength(2);
  });

  test("without a registration token, unenrolled agents are a usage error; a state file of another server too", async () => {
    const keys = serverKeys();
    const server = await fakeServer({ publicKey: keys.publicKey });
    cleanups.push(server.close);
    const statePath = join(mkdtempSync(join(tmpdir(), "tw-sim-")), "agents.json");
    const noToken = new Fleet(opts(server.url, statePath, { registrationToken: undefined }));
    await expect(noToken.start()).rejects.toThrow(new FleetError("5 of 5 agents are not enrolled yet (state file " + statePath + "); pass --registration-token", 2));

    const badToken = new Fleet(opts(server.url, statePath, { registrationToken: "reg_wrong" }));
    await expect(badToken.start()).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/^The server refused the registration token/) });

    const ok = new Fleet(opts(server.url, statePath, { count: 1, offlineRate: 1 }));
    await ok.start();
    ok.stop();
    const elsewhere = new Fleet(opts("http://127.0.0.1:9", statePath));
    await expect(elsewhere.start()).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining(`holds agents enrolled with ${server.url}`) });
  });
});
