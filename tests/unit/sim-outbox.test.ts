// The outbox on its own: a fake link stands in for the socket; the "server" behind it
// records each result once, as the protocol says.
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { Outbox, type Settlement, type TaskResult } from "../../lib/agents/sim/outbox";

type Answer = unknown | "no-ack";

/** A link that can go down, with a server that answers from a script (default: record and ok). */
function link() {
  const state = { connected: true };
  const sent: TaskResult[] = [];
  const recorded = new Map<string, TaskResult>();
  const script: Answer[] = [];
  const settled: { code: string; settlement: Settlement }[] = [];
  const send = async (r: TaskResult): Promise<unknown> => {
    sent.push(r);
    const answer = script.length ? script.shift() : { ok: true };
    if (answer === "no-ack") {
      // The connection drops before the ack arrives: Socket.IO rejects the emitWithAck.
      state.connected = false;
      throw new Error("socket has been disconnected");
    }
    if ((answer as { ok?: boolean }).ok === true && !recorded.has(r.code)) recorded.set(r.code, r);
    return answer;
  };
  const outbox = new Outbox({
    send,
    isConnected: () => state.connected,
    onSettled: (r, s) => settled.push({ code: r.code, settlement: s }),
    retryDelayMs: (reason) => (reason === "rate_limited" ? 1_000 : 20_000),
  });
  return { state, sent, recorded, script, settled, outbox };
}

const r = (code: string, status: "COMPLETED" | "FAILED" = "COMPLETED"): TaskResult => ({ code, status, message: `message of ${code}` });

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Outbox", () => {
  test("a result acknowledged ok leaves the outbox", async () => {
    const l = link();
    await l.outbox.add(r("AAAA0001"));
    expect(l.outbox.size).toBe(0);
    expect([...l.recorded.keys()]).toEqual(["AAAA0001"]);
    expect(l.settled).toEqual([{ code: "AAAA0001", settlement: { outcome: "recorded" } }]);
  });

  test("results not acknowledged are re-sent after reconnect, oldest first, and recorded once", async () => {
    const l = link();
    l.script.push("no-ack"); // the first result is sent, then the link drops
    await l.outbox.add(r("AAAA0001"));
    expect(l.state.connected).toBe(false);
    await l.outbox.add(r("AAAA0002", "FAILED")); // produced while offline: not even tried
    expect(l.sent.map((x) => x.code)).toEqual(["AAAA0001"]);
    expect(l.outbox.pending().map((x) => x.code)).toEqual(["AAAA0001", "AAAA0002"]);

    // Reconnect: the agent flushes on every connect.
    l.state.connected = true;
    await l.outbox.flush();
    expect(l.sent.map((x) => x.code)).toEqual(["AAAA0001", "AAAA0001", "AAAA0002"]);
    expect(l.outbox.size).toBe(0);
    expect([...l.recorded.values()]).toEqual([r("AAAA0001"), r("AAAA0002", "FAILED")]);
  });

  test("a result the server already has is re-sent after a lost ack and answered ok again (idempotent)", async () => {
    const l = link();
    // Recorded by the server, but the ack never made it back.
    l.script.push("no-ack");
    const send = l.outbox.add(r("AAAA0001"));
    await send;
    l.recorded.set("AAAA0001", r("AAAA0001"));
    l.state.connected = true;
    await l.outbox.flush();
    expect(l.outbox.size).toBe(0);
    expect(l.recorded.size).toBe(1);
  });

  test.each(["not_found", "final", "invalid"])("a result answered %s is dropped, never re-sent", async (error) => {
    const l = link();
    l.script.push({ ok: false, error });
    await l.outbox.add(r("AAAA0001"));
    expect(l.outbox.size).toBe(0);
    expect(l.settled).toEqual([{ code: "AAAA0001", settlement: { outcome: "dropped", error } }]);
    await l.outbox.flush();
    expect(l.sent).toHaveLength(1);
  });

  test("rate_limited keeps the result and sends it again after a pause, while connected", async () => {
    const l = link();
    l.script.push({ ok: false, error: "rate_limited" });
    await l.outbox.add(r("AAAA0001"));
    expect(l.outbox.size).toBe(1);
    // Results produced meanwhile wait for the retry rather than adding to the burst.
    await l.outbox.add(r("AAAA0002"));
    expect(l.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(l.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(l.sent.map((x) => x.code)).toEqual(["AAAA0001", "AAAA0001", "AAAA0002"]);
    expect(l.outbox.size).toBe(0);
  });

  test("an answer it does not understand keeps the result for the next try", async () => {
    const l = link();
    l.script.push({ ok: false, error: "internal" });
    await l.outbox.add(r("AAAA0001"));
    expect(l.outbox.size).toBe(1);
    l.script.push("not even an object");
    await vi.advanceTimersByTimeAsync(20_000);
    expect(l.outbox.size).toBe(1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(l.outbox.size).toBe(0);
    expect(l.sent).toHaveLength(3);
  });

  test("a result queued during a flush goes out in the same flush", async () => {
    const l = link();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = new Outbox({
      send: async (x) => {
        l.sent.push(x);
        if (x.code === "AAAA0001") await gate;
        return { ok: true };
      },
      isConnected: () => true,
    });
    const first = slow.add(r("AAAA0001"));
    const second = slow.add(r("AAAA0002"));
    release();
    await Promise.all([first, second]);
    expect(l.sent.map((x) => x.code)).toEqual(["AAAA0001", "AAAA0002"]);
    expect(slow.size).toBe(0);
  });

  test("nothing is sent while disconnected, and close() stops retries", async () => {
    const l = link();
    l.state.connected = false;
    await l.outbox.add(r("AAAA0001"));
    expect(l.sent).toEqual([]);
    l.outbox.close();
    l.state.connected = true;
    await l.outbox.flush();
    expect(l.sent).toEqual([]);
    expect(l.outbox.pending()).toEqual([r("AAAA0001")]);
  });
});
