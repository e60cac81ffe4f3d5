// Limits an agent or an enrolling client cannot step around (docs/agent-protocol.md §1, §2,
// §6): the event rate belongs to the device, not the connection, so reconnecting buys
// nothing; connects are limited per device; enrollment is throttled per client address and
// per registration token, answered 429 with Retry-After; a taken name names nobody else's
// device. All against the real production server.
import { describe, expect, test } from "vitest";
import { AGENT_CONNECTS_PER_10S, AGENT_EVENTS_PER_2S } from "../../lib/agents/namespace";
import { fetchServerKey, SimAgent, type SimAgentEvent } from "../../lib/agents/sim/sim-agent";
import { NAME_TAKEN } from "../../lib/devices/enrollment";
import { ENROLL_PER_ADDRESS_PER_MINUTE, ENROLL_PER_TOKEN_PER_MINUTE } from "../../lib/server/enroll-throttle";
import { expectError } from "../support/api";
import { liveRefusal } from "../support/live";
import { CONNECTS_PER_10S } from "../../lib/live/namespace";
import { agentServerFixture, closeAgentsAfterEach, deviceCount, deviceRow, registrationToken, TestAgent, uniqueName, waitFor } from "../support/agents";

closeAgentsAfterEach();

type Ack = { ok: boolean; error?: string };

/** Connects, or returns the refusal's message. */
async function tryConnect(url: string, creds: unknown): Promise<TestAgent | string> {
  try {
    return await TestAgent.connect(url, { ...(creds as object), version: "1.9.1" });
  } catch (e) {
    return (e as Error).message;
  }
}

describe("agents", () => {
  const ctx = agentServerFixture();

  test("a device reconnecting over and over gets no more than the documented event rate across its connections", async () => {
    const { creds } = await ctx.device();
    const started = Date.now();
    let ok = 0;
    let limited = 0;
    let connections = 0;
    // As many connections as the connect limit allows, each flooding a full burst's worth.
    for (let i = 0; i < AGENT_CONNECTS_PER_10S; i++) {
      const agent = await ctx.connect(creds);
      connections++;
      const answers = await Promise.all(Array.from({ length: AGENT_EVENTS_PER_2S }, () => agent.send<Ack>("heartbeat", { version: "1.9.1" }, 15_000)));
      ok += answers.filter((a) => a.ok).length;
      limited += answers.filter((a) => !a.ok && a.error === "rate_limited").length;
      agent.close();
      await waitFor("the device to go offline", async () => (await deviceRow(ctx.dbFile, creds.device_id))?.online === 0, 10_000);
    }
    const elapsedMs = Date.now() - started;
    expect(connections).toBe(AGENT_CONNECTS_PER_10S);
    expect(ok + limited).toBe(AGENT_CONNECTS_PER_10S * AGENT_EVENTS_PER_2S);
    // 40 per 2 s window, windows counted generously (one more than the time spanned).
    const windows = Math.ceil(elapsedMs / 2_000) + 1;
    expect(ok, `${ok} accepted over ${connections} connections in ${elapsedMs} ms`).toBeLessThanOrEqual(AGENT_EVENTS_PER_2S * windows);
    expect(limited).toBeGreaterThan(0);
  });

  test("a connect flood is refused with `rate_limited`; other devices connect meanwhile, and the device is let back in later", async () => {
    const { creds } = await ctx.device();
    const neighbour = await ctx.device();
    const outcomes: string[] = [];
    for (let i = 0; i < AGENT_CONNECTS_PER_10S + 3; i++) {
      const r = await tryConnect(ctx.url, creds);
      if (typeof r === "string") outcomes.push(r);
      else {
        outcomes.push("connected");
        r.close();
      }
    }
    expect(outcomes.filter((o) => o === "connected").length).toBeLessThanOrEqual(AGENT_CONNECTS_PER_10S);
    expect(outcomes).toContain("rate_limited");
    expect(outcomes.filter((o) => o !== "connected" && o !== "rate_limited")).toEqual([]);

    const other = await ctx.connect(neighbour.creds);
    expect(await other.send<Ack>("heartbeat", { version: "1.9.1" })).toEqual({ ok: true });

    // The refusal means "later", and later it connects (the window is 10 s).
    const back = await waitFor(
      "the device to be let back in",
      async () => {
        const r = await tryConnect(ctx.url, creds);
        return typeof r === "string" ? undefined : r;
      },
      30_000,
      1_000,
    );
    expect(back.connected).toBe(true);
  });

  test("connects of one device arriving all at once take the allowance once each: the first ones in, the rest `rate_limited`", async () => {
    // Arriving together, they are counted together (one statement per turn of the loop on
    // PostgreSQL): each takes its own point, none slips through between a read and a write.
    const { creds } = await ctx.device();
    const flood = AGENT_CONNECTS_PER_10S + 5;
    const outcomes = await Promise.all(Array.from({ length: flood }, () => tryConnect(ctx.url, creds)));
    const accepted = outcomes.filter((o) => typeof o !== "string").length;
    for (const o of outcomes) if (typeof o !== "string") o.close();
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThanOrEqual(AGENT_CONNECTS_PER_10S);
    expect(outcomes.filter((o) => o === "rate_limited").length).toBe(flood - accepted);
    // The allowance is used up: one more is refused.
    expect(await tryConnect(ctx.url, creds)).toBe("rate_limited");
  });

  test("the simulated agent treats a `rate_limited` refusal as retry-later and connects once allowed", async () => {
    const { name, creds } = await ctx.device();
    // Use up the device's connects.
    for (let i = 0; i < AGENT_CONNECTS_PER_10S + 1; i++) {
      const r = await tryConnect(ctx.url, creds);
      if (typeof r !== "string") r.close();
    }
    const events: SimAgentEvent[] = [];
    const agent = new SimAgent({
      url: ctx.url,
      name,
      deviceId: creds.device_id,
      deviceToken: creds.device_token,
      publicKey: await fetchServerKey(ctx.url),
      retryDelayMs: () => 1_000,
      onEvent: (e) => events.push(e),
    });
    try {
      agent.start();
      await waitFor("a rate_limited refusal", () => events.some((e) => e.kind === "refused" && e.reason === "rate_limited"), 10_000);
      expect(agent.state).not.toBe("revoked");
      await waitFor("the simulated agent to connect", () => agent.state === "online", 30_000, 100);
      expect(events.some((e) => e.kind === "revoked")).toBe(false);
    } finally {
      agent.stop();
    }
  });
});

describe("enrollment", () => {
  // Behind a trusted proxy the client address is the one X-Forwarded-For names, so one test
  // process can stand for many clients.
  const proxied = agentServerFixture({ env: { TASKWIRE_TRUST_PROXY: "1" } });
  const direct = agentServerFixture();

  const enrollFrom = (ctx: typeof proxied, address: string, body: unknown) =>
    ctx.api.post<{ device_id: string }>("/agent/enroll", { json: body, headers: { "x-forwarded-for": address } });

  function expectThrottled(reply: Awaited<ReturnType<typeof enrollFrom>>) {
    expectError(reply, 429, "rate_limited");
    const retryAfter = Number(reply.headers.get("retry-after"));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  }

  test("per client address: past the limit a minute the address is answered 429 with Retry-After; another address is not", async () => {
    const body = { registration_token: "reg_not-a-real-token-at-all", name: uniqueName(), version: "1.9.1" };
    for (let i = 0; i < ENROLL_PER_ADDRESS_PER_MINUTE; i++) {
      expectError(await enrollFrom(proxied, "203.0.113.7", body), 401, "unauthorized");
    }
    expectThrottled(await enrollFrom(proxied, "203.0.113.7", body));
    expectThrottled(await enrollFrom(proxied, "203.0.113.7", { ...body, registration_token: (await registrationToken(proxied.dbFile, "acme")) }));
    expectError(await enrollFrom(proxied, "203.0.113.8", body), 401, "unauthorized");
  });

  test("per registration token: past the limit a minute, from any address, the token is answered 429; nothing is created; other tokens carry on", async () => {
    const token = (await registrationToken(proxied.dbFile, "globex"));
    const devices = () => deviceCount(proxied.dbFile);
    const before = await devices();
    // Malformed bodies (no name) count too, and create nothing.
    for (let i = 0; i < ENROLL_PER_TOKEN_PER_MINUTE; i++) {
      expectError(await enrollFrom(proxied, `198.51.100.${i % 250}`, { registration_token: token, version: "1.9.1", n: i }), 400, "invalid");
    }
    expectThrottled(await enrollFrom(proxied, "192.0.2.1", { registration_token: token, name: uniqueName(), version: "1.9.1" }));
    expect(await devices()).toBe(before);
    const other = await enrollFrom(proxied, "192.0.2.1", { registration_token: (await registrationToken(proxied.dbFile, "acme")), name: uniqueName(), version: "1.9.1" });
    expect(other.status, JSON.stringify(other.body)).toBe(201);
  });

  test("without a trusted proxy, a forged X-Forwarded-For does not escape the address limit", async () => {
    const body = { registration_token: "reg_not-a-real-token-either", name: uniqueName(), version: "1.9.1" };
    for (let i = 0; i < ENROLL_PER_ADDRESS_PER_MINUTE; i++) {
      expectError(await enrollFrom(direct, `10.0.${i >> 8}.${i & 255}`, body), 401, "unauthorized");
    }
    expectThrottled(await enrollFrom(direct, "10.9.9.9", body));
  });

  test("behind a trusted proxy, the address counted is the one the proxy appended: what a client writes before it does not escape the limit", async () => {
    const body = { registration_token: "reg_not-a-real-token-still", name: uniqueName(), version: "1.9.1" };
    // The client forges a new first address each time; the proxy appends the one it saw.
    for (let i = 0; i < ENROLL_PER_ADDRESS_PER_MINUTE; i++) {
      expectError(await enrollFrom(proxied, `10.2.${i >> 8}.${i & 255}, 203.0.113.77`, body), 401, "unauthorized");
    }
    expectThrottled(await enrollFrom(proxied, "10.3.3.3, 203.0.113.77", body));
  });

  test("without a trusted proxy, a forged X-Forwarded-For in a live socket's handshake does not escape the connect limit", async () => {
    const from = (i: number) => liveRefusal(direct.url, { origin: direct.url, "x-forwarded-for": `10.1.${i >> 8}.${i & 255}` });
    // At once, well within the limiter's 10 s: no session, so refused as such...
    expect(await Promise.all(Array.from({ length: CONNECTS_PER_10S }, (_, i) => from(i)))).toEqual(Array(CONNECTS_PER_10S).fill("unauthorized"));
    // ...until the address has used its connects, whatever the header says.
    expect(await from(CONNECTS_PER_10S)).toBe("rate_limited");
  });

  test("409 on a taken name says the name is taken and names no device", async () => {
    const token = (await registrationToken(proxied.dbFile, "acme"));
    const name = uniqueName();
    expect((await enrollFrom(proxied, "192.0.2.50", { registration_token: token, name, version: "1.9.1" })).status).toBe(201);
    for (const taken of [name, "fw-ams-01"]) {
      const r = await enrollFrom(proxied, "192.0.2.50", { registration_token: token, name: taken, version: "1.9.1" });
      expectError(r, 409, "conflict");
      expect(r.body.error.message).toBe(NAME_TAKEN);
      expect(r.body.error.message).not.toContain(taken);
      expect(JSON.stringify(r.body)).not.toMatch(/fw-|agt-/);
    }
  });
});
