// A load process of the benchmark (forked by bench/run.ts, driven over IPC): many agents
// speaking the agent protocol, or browser-like clients of the live channel, against the
// Taskwire server or the raw Socket.IO baseline. It only records times; the orchestrator
// computes the figures.
//
// Agents answer every task at once — ack { accepted: true }, then a COMPLETED result — and do
// not verify signatures (a real agent does; here it would only make the load generator, not
// the server, the bottleneck).
import { readFileSync } from "node:fs";
import { io, type Socket } from "socket.io-client";
import { fromWallClock, now, sleep } from "./lib/stats";
import { LATEST_PROTOCOL } from "../lib/agents/envelope";

type Creds = { device_id: string; device_token: string; name: string };
type Command =
  | { cmd: "agents.connect"; url: string; credsFile: string; from: number; to: number; answer: boolean; retry?: boolean; localAddress?: string; deadlineMs?: number }
  | { cmd: "agents.answer"; accept: boolean; answer: boolean }
  | { cmd: "agents.await"; connected: number; received: number; timeoutMs: number }
  | { cmd: "agents.notify"; on: boolean }
  | { cmd: "agents.reset" }
  | { cmd: "agents.report"; acks: boolean }
  | { cmd: "agents.heartbeats"; windowMs: number }
  | { cmd: "agents.close" }
  | { cmd: "live.connect"; url: string; n: number; cookie?: string }
  | { cmd: "live.report" }
  | { cmd: "live.close" }
  | { cmd: "rss" };

type Request = Command & { id: number };

const send = (m: unknown) => process.send!(m);

// ---------------------------------------------------------------------------------------
// Agents

const agents: Socket[] = [];
let accept = true;
let answer = true;
/** Refusals and transport failures seen while connecting, retried ones included. */
let refusals: Record<string, number> = {};
let retries = 0;
let notify = false;
/** code → [received, result acknowledged (0 until then)] */
let tasks = new Map<string, [number, number]>();
let errors: Record<string, number> = {};
let duplicates = 0;
const count = (what: string) => (errors[what] = (errors[what] ?? 0) + 1);

function sendResult(socket: Socket, code: string, attempt = 0): void {
  socket.timeout(60_000).emit("result", { code, status: "COMPLETED", message: "bench: done" }, (err: Error | null, ack: { ok: boolean; error?: string }) => {
    if (err) return count("result timeout");
    if (ack?.ok) {
      const t = tasks.get(code);
      if (t) t[1] = now();
      return;
    }
    count(`result ${ack?.error ?? "?"}`);
    if (ack?.error === "rate_limited" && attempt < 20) setTimeout(() => sendResult(socket, code, attempt + 1), 1_000);
  });
}

// What the protocol (docs/agent-protocol.md §2) has an agent do when it cannot connect:
// stop on these refusals, retry others 10–30 s later, retry transport failures with backoff
// at most 30 s apart (the client's own reconnection).
const FINAL = new Set(["unauthorized", "deleted"]);
const later = () => 10_000 + Math.random() * 20_000;

async function connectAgents(c: Extract<Command, { cmd: "agents.connect" }>) {
  const creds = (JSON.parse(readFileSync(c.credsFile, "utf8")) as Creds[]).slice(c.from, c.to);
  answer = c.answer;
  accept = true;
  const retry = c.retry ?? false;
  const started = now();
  const connectMs: number[] = [];
  const failures: Record<string, number> = {};
  let lastConnected = started;
  await new Promise<void>((resolve) => {
    let settled = 0;
    const done = () => {
      if (++settled === creds.length) resolve();
    };
    // Retrying agents may never all get in: the answer comes at the deadline at the latest.
    if (retry) setTimeout(resolve, c.deadlineMs ?? 180_000).unref();
    // All at once: the sockets are created in one pass, yielding briefly every 250 so this
    // process stays responsive; the server sees them arrive as fast as they can be opened.
    void (async () => {
      for (let i = 0; i < creds.length; i++) {
        const cr = creds[i];
        const socket = io(`${c.url}/agent`, {
          auth: { device_id: cr.device_id, device_token: cr.device_token, version: "1.9.1", protocol: LATEST_PROTOCOL },
          transports: ["websocket"],
          forceNew: true,
          reconnection: retry,
          reconnectionDelay: 1_000,
          reconnectionDelayMax: 30_000,
          randomizationFactor: 0.5,
          // Retrying agents give up on an attempt as Socket.IO's own default does, and try again.
          timeout: retry ? 20_000 : 60_000,
          ...(c.localAddress ? { localAddress: c.localAddress } : {}),
        });
        const t0 = now();
        let first = true;
        socket.on("connect", () => {
          if (!first) return;
          first = false;
          lastConnected = now();
          connectMs.push(lastConnected - t0);
          done();
        });
        socket.on("connect_error", (e: Error) => {
          refusals[e.message] = (refusals[e.message] ?? 0) + 1;
          // A transport failure: the client tries again by itself.
          if (retry && socket.active) return;
          if (retry && !FINAL.has(e.message)) {
            retries++;
            setTimeout(() => socket.connect(), later());
            return;
          }
          if (!first) return;
          first = false;
          failures[e.message] = (failures[e.message] ?? 0) + 1;
          done();
        });
        socket.on("disconnect", (reason) => {
          if (reason !== "io client disconnect") count(`disconnected: ${reason}`);
          // Closed by the server: come back later, as the protocol says.
          if (retry && reason === "io server disconnect") {
            retries++;
            setTimeout(() => socket.connect(), later());
          }
        });
        socket.on("task", (msg: { code: string }, ack: (a: unknown) => void) => {
          if (!accept) return;
          const t = now();
          if (tasks.has(msg.code)) duplicates++;
          else tasks.set(msg.code, [t, 0]);
          if (notify) send({ event: "task", code: msg.code, at: t });
          ack({ accepted: true });
          if (answer) sendResult(socket, msg.code);
        });
        agents.push(socket);
        if (i % 250 === 249) await sleep(1);
      }
    })();
  });
  return { connected: agents.filter((s) => s.connected).length, failures, ms: lastConnected - started, connectMs, refusals, retries };
}

/** Waits until this many agents are connected and this many tasks received, or the timeout. */
async function awaitAgents(c: Extract<Command, { cmd: "agents.await" }>) {
  const started = now();
  const connected = () => agents.filter((s) => s.connected).length;
  let allConnectedMs: number | null = null;
  while (now() - started < c.timeoutMs) {
    if (allConnectedMs === null && connected() >= c.connected) allConnectedMs = now() - started;
    if (allConnectedMs !== null && tasks.size >= c.received) break;
    await sleep(50);
  }
  return { ms: now() - started, allConnectedMs, connected: connected(), received: tasks.size, refusals, retries };
}

async function heartbeats(windowMs: number) {
  const live = agents.filter((s) => s.connected);
  const rtts: number[] = [];
  let failed = 0;
  const gap = windowMs / Math.max(1, live.length);
  const started = now();
  await Promise.all(
    live.map(async (socket, i) => {
      // Spread evenly over the window, as a fleet's 60 s heartbeats are.
      const at = started + i * gap;
      const wait = at - now();
      if (wait > 0) await sleep(wait);
      const t0 = now();
      try {
        const ack = (await socket.timeout(30_000).emitWithAck("heartbeat", { version: "1.9.1", uptime_seconds: 3600 })) as { ok: boolean };
        if (ack?.ok) rtts.push(now() - t0);
        else failed++;
      } catch {
        failed++;
      }
    }),
  );
  return { rtts, failed, sent: live.length, ratePerSecond: live.length / (windowMs / 1000) };
}

function report(withAcks: boolean) {
  let received = 0;
  let acked = 0;
  let firstReceived = Infinity;
  let lastAcked = 0;
  const acks: [string, number][] = [];
  for (const [code, [r, a]] of tasks) {
    received++;
    firstReceived = Math.min(firstReceived, r);
    if (a) {
      acked++;
      lastAcked = Math.max(lastAcked, a);
      if (withAcks) acks.push([code, a]);
    }
  }
  return { received, acked, duplicates, errors, firstReceived, lastAcked, acks, connected: agents.filter((s) => s.connected).length };
}

// ---------------------------------------------------------------------------------------
// Browser-like live clients

type SeenPatch = { receivedAt: number; sent: number; truncated: boolean; rows: number; finals: string[] };
const liveClients: { socket: Socket; patches: SeenPatch[] }[] = [];

async function connectLive(c: Extract<Command, { cmd: "live.connect" }>) {
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: c.n }, async () => {
      const socket = io(`${c.url}/live`, {
        transports: ["websocket"],
        forceNew: true,
        reconnection: false,
        extraHeaders: c.cookie ? { cookie: c.cookie, origin: c.url } : { origin: c.url },
      });
      const client = { socket, patches: [] as SeenPatch[] };
      // Taskwire's patches carry task rows; the raw server's the codes of finished tasks.
      socket.on("patch", (p: { sent: string; truncated?: boolean; tasks?: { code: string; status: string }[]; codes?: string[] }) => {
        const receivedAt = now();
        const finals = p.tasks ? p.tasks.filter((t) => t.status === "COMPLETED" || t.status === "FAILED").map((t) => t.code) : (p.codes ?? []);
        client.patches.push({ receivedAt, sent: fromWallClock(Date.parse(p.sent)), truncated: !!p.truncated, rows: p.tasks?.length ?? finals.length, finals });
      });
      try {
        await new Promise<void>((ok, fail) => {
          socket.once("connect", () => ok());
          socket.once("connect_error", (e) => fail(e));
        });
        const ack = (await socket.timeout(10_000).emitWithAck("watch", { org: true })) as { ok: boolean; error?: string };
        if (!ack.ok) throw new Error(`watch refused: ${ack.error}`);
        liveClients.push(client);
      } catch (e) {
        failures.push((e as Error).message);
        socket.close();
      }
    }),
  );
  return { connected: liveClients.length, failures };
}

// ---------------------------------------------------------------------------------------

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case "agents.connect":
      return connectAgents(c);
    case "agents.answer":
      accept = c.accept;
      answer = c.answer;
      return null;
    case "agents.await":
      return awaitAgents(c);
    case "agents.notify":
      notify = c.on;
      return null;
    case "agents.reset":
      tasks = new Map();
      errors = {};
      duplicates = 0;
      refusals = {};
      retries = 0;
      return null;
    case "agents.report":
      return report(c.acks);
    case "agents.heartbeats":
      return heartbeats(c.windowMs);
    case "agents.close":
      for (const s of agents) s.close();
      agents.length = 0;
      return null;
    case "live.connect":
      return connectLive(c);
    case "live.report":
      return liveClients.map((c) => c.patches);
    case "live.close":
      for (const c of liveClients) c.socket.close();
      liveClients.length = 0;
      return null;
    case "rss":
      return process.memoryUsage.rss();
  }
}

process.on("message", (m: Request) => {
  handle(m).then(
    (result) => send({ id: m.id, ok: true, result }),
    (e: unknown) => send({ id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});
process.on("disconnect", () => process.exit(0));
send({ event: "ready" });
