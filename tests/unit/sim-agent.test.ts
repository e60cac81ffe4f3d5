// SimAgent's task handler, driven directly: no server, messages signed here.
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { SimAgent, type SimAgentEvent, type TaskAck } from "../../lib/agents/sim/sim-agent";
import { seeded, serverKeys, signedTask } from "./sim-fixtures";

const DEVICE = "5b0c8a52-3d1e-4c55-9a57-0d6f7f6f0a01";
const OTHER = "9e3f1b7c-0000-4c55-9a57-0d6f7f6f0a02";

function agentWith(opts: { failRate?: number; lastSeq?: number } = {}) {
  const keys = serverKeys();
  const events: SimAgentEvent[] = [];
  const agent = new SimAgent({
    url: "http://127.0.0.1:1",
    name: "sim-0001",
    deviceId: DEVICE,
    deviceToken: "dev_x",
    publicKey: keys.publicKey,
    random: seeded(7),
    failRate: opts.failRate ?? 0,
    lastSeq: opts.lastSeq,
    onEvent: (e) => events.push(e),
  });
  const deliver = (msg: unknown): TaskAck => {
    const acks: TaskAck[] = [];
    agent.handleTask(msg, (a) => acks.push(a));
    expect(acks).toHaveLength(1);
    return acks[0];
  };
  return { agent, keys, events, deliver };
}

/** Flips one character of a base64url string to another valid one. */
function flipChar(s: string, at: number): string {
  const c = s[at];
  return s.slice(0, at) + (c === "A" ? "B" : "A") + s.slice(at + 1);
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("refused tasks", () => {
  test("a tampered envelope is refused: bad signature", () => {
    const { agent, keys, deliver } = agentWith();
    const msg = signedTask(keys.privateKey, { device_id: DEVICE, seq: 1 });
    const tampered = { ...msg, envelope: flipChar(msg.envelope, Math.floor(msg.envelope.length / 2)) };
    expect(deliver(tampered)).toEqual({ accepted: false, reason: "bad signature" });
    expect(agent.lastSeq).toBe(0);
  });

  test("a tampered signature is refused", () => {
    const { keys, deliver } = agentWith();
    const msg = signedTask(keys.privateKey, { device_id: DEVICE, seq: 1 });
    const sig = Buffer.from(msg.signature, "base64url");
    sig[10] ^= 0x01;
    expect(deliver({ ...msg, signature: sig.toString("base64url") })).toEqual({ accepted: false, reason: "bad signature" });
  });

  test("a task signed by another key is refused", () => {
    const { deliver } = agentWith();
    const stranger = serverKeys();
    expect(deliver(signedTask(stranger.privateKey, { device_id: DEVICE, seq: 1 }))).toEqual({ accepted: false, reason: "bad signature" });
  });

  test("an envelope for another device is refused, even validly signed", () => {
    const { keys, deliver } = agentWith();
    expect(deliver(signedTask(keys.privateKey, { device_id: OTHER, seq: 1 }))).toEqual({
      accepted: false,
      reason: "envelope is for another device",
    });
  });

  test("plain fields that disagree with the envelope are refused: only the envelope is trusted", () => {
    const { keys, deliver } = agentWith();
    const msg = signedTask(keys.privateKey, { device_id: DEVICE, seq: 1, payload: { host: "1.1.1.1", count: 4 } });
    expect(deliver({ ...msg, payload: { host: "evil.example", count: 4 } })).toEqual({
      accepted: false,
      reason: "envelope does not match the message",
    });
  });

  test("an expired envelope is refused", () => {
    const { keys, deliver } = agentWith();
    const exp = Math.floor(Date.now() / 1000) + 60;
    const msg = signedTask(keys.privateKey, { device_id: DEVICE, seq: 1, exp });
    vi.advanceTimersByTime(61_000);
    expect(deliver(msg)).toEqual({ accepted: false, reason: "task expired" });
  });

  test("a replayed or older sequence number is refused; refusals do not move lastSeq", () => {
    const { agent, keys, deliver } = agentWith();
    expect(deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 5, code: "AAAA0005" }))).toEqual({ accepted: true });
    expect(agent.lastSeq).toBe(5);
    expect(deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 5, code: "AAAA0005" }))).toEqual({
      accepted: false,
      reason: "replayed sequence number 5",
    });
    expect(deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 3, code: "AAAA0003" }))).toEqual({
      accepted: false,
      reason: "replayed sequence number 3",
    });
    expect(agent.lastSeq).toBe(5);
    expect(deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 6, code: "AAAA0006" }))).toEqual({ accepted: true });
  });

  test("a saved lastSeq survives a restart: the first message must be newer", () => {
    const { keys, deliver } = agentWith({ lastSeq: 40 });
    expect(deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 40 }))).toMatchObject({ accepted: false });
    expect(deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 41 }))).toEqual({ accepted: true });
  });

  test("garbage is refused, not thrown", () => {
    const { deliver, events } = agentWith();
    expect(deliver({ code: "x" })).toEqual({ accepted: false, reason: "malformed task message" });
    expect(deliver(null)).toEqual({ accepted: false, reason: "malformed task message" });
    expect(events.filter((e) => e.kind === "task-refused")).toHaveLength(2);
  });

  test("a refused task produces no result", () => {
    const { agent, keys, deliver } = agentWith();
    deliver(signedTask(keys.privateKey, { device_id: OTHER, seq: 1 }));
    vi.advanceTimersByTime(120_000);
    expect(agent.undelivered).toEqual([]);
  });
});

describe("accepted tasks", () => {
  test("a PING is worked for about a second, then reports ping statistics for its host and count", () => {
    const { agent, keys, deliver } = agentWith();
    expect(deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 1, code: "PING0001", payload: { host: "9.9.9.9", count: 3 } }))).toEqual({
      accepted: true,
    });
    vi.advanceTimersByTime(500);
    expect(agent.undelivered).toEqual([]);
    vi.advanceTimersByTime(1_000);
    const [result] = agent.undelivered;
    expect(result).toMatchObject({ code: "PING0001", status: "COMPLETED" });
    expect(result.message).toMatch(/^PING 9\.9\.9\.9 \(9\.9\.9\.9\): 56 data bytes/);
    expect(result.message).toContain("--- 9.9.9.9 ping statistics ---");
    expect(result.message).toMatch(/3 packets transmitted, [23] packets received/);
  });

  test("a task sent again (its ack was lost) is acknowledged but not worked twice", () => {
    const { agent, keys, deliver, events } = agentWith();
    expect(deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 1, code: "SAME0001", type: "RESTART" }))).toEqual({ accepted: true });
    expect(deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 2, code: "SAME0001", type: "RESTART" }))).toEqual({ accepted: true });
    vi.advanceTimersByTime(10_000);
    expect(agent.undelivered).toEqual([{ code: "SAME0001", status: "COMPLETED", message: "Agent restart scheduled via rc.d" }]);
    expect(events.map((e) => e.kind)).toEqual(["task-accepted", "task-duplicate"]);
  });

  test("with failRate 1 every task fails with the type's kind of error", () => {
    const { agent, keys, deliver } = agentWith({ failRate: 1 });
    deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 1, code: "PLUG0001", type: "PLUGIN_INSTALL", payload: { targetVersion: "9.9.9" } }));
    deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 2, code: "SYNC0001", type: "SYNC" }));
    vi.advanceTimersByTime(25_000);
    const byCode = Object.fromEntries(agent.undelivered.map((r) => [r.code, r]));
    expect(byCode.PLUG0001.status).toBe("FAILED");
    expect(byCode.PLUG0001.message).toMatch(/^pkg: /);
    expect(byCode.SYNC0001.status).toBe("FAILED");
    expect(byCode.SYNC0001.message).toMatch(/configd|pfctl|Configuration rejected/);
  });

  test("SYNC reports a new configuration revision each time", () => {
    const { agent, keys, deliver } = agentWith();
    deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 1, code: "SYNC0001", type: "SYNC" }));
    vi.advanceTimersByTime(9_000);
    deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 2, code: "SYNC0002", type: "SYNC" }));
    vi.advanceTimersByTime(9_000);
    const revs = agent.undelivered.map((r) => Number(/revision (\d+), sha256 [0-9a-f]{12}…/.exec(r.message)?.[1]));
    expect(revs[1]).toBe(revs[0] + 1);
  });

  test("PLUGIN_INSTALL with a target version changes the version the agent reports", () => {
    const { agent, keys, deliver } = agentWith();
    expect(agent.agentVersion).toBe("1.9.1");
    deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 1, type: "PLUGIN_INSTALL", payload: { targetVersion: "2.0.0" } }));
    vi.advanceTimersByTime(21_000);
    expect(agent.undelivered[0].message).toMatch(/^Installed os-taskwire-agent-2\.0\.0 \(was 1\.9\.1\)/);
    expect(agent.agentVersion).toBe("2.0.0");
  });

  test("REBOOT completes only after the downtime, with how long the device was away", () => {
    const { agent, keys, deliver } = agentWith();
    const uptimeBefore = agent.uptimeSeconds;
    deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 1, code: "BOOT0001", type: "REBOOT" }));
    vi.advanceTimersByTime(2_000);
    expect(agent.state).toBe("away");
    expect(agent.undelivered).toEqual([]);
    vi.advanceTimersByTime(15_000);
    const [result] = agent.undelivered;
    expect(result.code).toBe("BOOT0001");
    expect(result.status).toBe("COMPLETED");
    const away = Number(/^Device back online after reboot \((\d+) s\)$/.exec(result.message)?.[1]);
    expect(away).toBeGreaterThanOrEqual(5);
    expect(away).toBeLessThanOrEqual(15);
    expect(agent.uptimeSeconds).toBeLessThan(uptimeBefore);
  });

  test("SHUTDOWN reports a clean power-off once back; speed shortens everything", () => {
    const { keys } = agentWith();
    const fast = new SimAgent({
      url: "http://127.0.0.1:1",
      name: "fast",
      deviceId: DEVICE,
      deviceToken: "dev_x",
      publicKey: keys.publicKey,
      random: seeded(3),
      speed: 10,
    });
    fast.handleTask(signedTask(keys.privateKey, { device_id: DEVICE, seq: 1, code: "DOWN0001", type: "SHUTDOWN" }), () => {});
    vi.advanceTimersByTime(1_700); // at most 2 s of work + 15 s away, divided by 10
    expect(fast.undelivered).toEqual([{ code: "DOWN0001", status: "COMPLETED", message: "Appliance powered off cleanly" }]);
  });

  test("stop() cancels work in progress", () => {
    const { agent, keys, deliver } = agentWith();
    deliver(signedTask(keys.privateKey, { device_id: DEVICE, seq: 1, type: "BACKUP" }));
    agent.stop();
    vi.advanceTimersByTime(60_000);
    expect(agent.undelivered).toEqual([]);
    expect(agent.state).toBe("stopped");
  });
});
