// One simulated appliance agent speaking docs/agent-protocol.md over a real Socket.IO
// connection: it verifies every task against the pinned server key, acknowledges it,
// "works" for a realistic time and reports the result, keeping undelivered results in
// an outbox until the server acknowledges them.
import { createPublicKey, type KeyObject } from "node:crypto";
import { io, type Socket } from "socket.io-client";
import { z } from "zod";
import { LATEST_PROTOCOL, verifyTaskMessage, type Envelope } from "../envelope";
import { Outbox, type Settlement, type TaskResult } from "./outbox";
import { afterDowntime, planWork, type ApplianceFacts, type Random } from "./work";

export const DEFAULT_AGENT_VERSION = "1.9.1";

/** Refusals of the handshake (protocol §2) that end the agent; the others (pending_approval, disabled) are retried. */
export const FINAL_REFUSALS = ["unauthorized", "deleted"] as const;
export type FinalRefusal = (typeof FINAL_REFUSALS)[number];

export type TaskAck = { accepted: true } | { accepted: false; reason: string };

export type AgentState =
  | "idle" // not started
  | "connecting"
  | "online"
  | "waiting" // refused with pending_approval/disabled, or disconnected by the server: retrying later
  | "away" // rebooting or powered off on purpose
  | "revoked" // unauthorized/deleted: stopped for good
  | "stopped";

export type SimAgentEvent =
  | { kind: "connected" }
  | { kind: "disconnected"; reason: string }
  | { kind: "refused"; reason: string }
  | { kind: "revoked"; reason: FinalRefusal }
  | { kind: "task-accepted"; code: string; type: Envelope["type"] }
  | { kind: "task-duplicate"; code: string }
  | { kind: "task-refused"; code: string | null; reason: string }
  | { kind: "result-settled"; result: TaskResult; settlement: Settlement };

export interface SimAgentOptions {
  url: string;
  name: string;
  deviceId: string;
  deviceToken: string;
  /** The server's Ed25519 key, pinned at enrollment (see fetchServerKey). */
  publicKey: KeyObject;
  version?: string;
  /** The last sequence number accepted, when resuming from saved state. */
  lastSeq?: number;
  speed?: number;
  failRate?: number;
  heartbeatSeconds?: number;
  random?: Random;
  onEvent?: (event: SimAgentEvent) => void;
  log?: (line: string) => void;
  /** How long to wait for the server to acknowledge an event before treating it as unanswered. */
  ackTimeoutMs?: number;
  /** Delay before trying to connect again after pending_approval/disabled or a server-side disconnect. */
  retryDelayMs?: () => number;
}

/** How many task codes the agent remembers to recognise a task the server sends again. */
const REMEMBERED_CODES = 10_000;

export class SimAgent {
  readonly name: string;
  readonly deviceId: string;
  private version: string;
  private lastSeqValue: number;
  private stateValue: AgentState = "idle";
  private socket: Socket | null = null;
  private readonly outbox: Outbox;
  private readonly seen = new Set<string>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private heartbeat: ReturnType<typeof setTimeout> | null = null;
  private bootedAt: number;
  private awayCount = 0;
  private readonly facts: ApplianceFacts;
  private readonly random: Random;
  private readonly speed: number;
  private readonly failRate: number;
  private readonly heartbeatMs: number;
  private readonly ackTimeoutMs: number;

  constructor(private readonly opts: SimAgentOptions) {
    this.name = opts.name;
    this.deviceId = opts.deviceId;
    this.version = opts.version ?? DEFAULT_AGENT_VERSION;
    this.lastSeqValue = opts.lastSeq ?? 0;
    this.random = opts.random ?? Math.random;
    this.speed = opts.speed ?? 1;
    this.failRate = opts.failRate ?? 0;
    this.heartbeatMs = (opts.heartbeatSeconds ?? 60) * 1000;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    // Appliances in a fleet have been up for a while: between an hour and three months.
    this.bootedAt = Date.now() - Math.floor(3_600_000 + this.random() * 90 * 86_400_000);
    this.facts = { name: opts.name, firmware: "24.7.9", pluginVersion: this.version, configRevision: 100 + Math.floor(this.random() * 900) };
    this.outbox = new Outbox({
      send: (result) => this.emitWithAck("result", result),
      isConnected: () => this.socket?.connected === true,
      onSettled: (result, settlement) => this.emit({ kind: "result-settled", result, settlement }),
      retryDelayMs: (reason) => (reason === "rate_limited" ? 500 + this.random() * 1_500 : 15_000 + this.random() * 15_000),
      setTimer: (fn, ms) => this.later(ms, fn),
      clearTimer: (t) => this.cancel(t as ReturnType<typeof setTimeout>),
    });
  }

  get state(): AgentState {
    return this.stateValue;
  }

  get lastSeq(): number {
    return this.lastSeqValue;
  }

  get agentVersion(): string {
    return this.version;
  }

  /** Results produced but not yet acknowledged by the server. */
  get undelivered(): TaskResult[] {
    return this.outbox.pending();
  }

  get uptimeSeconds(): number {
    return Math.max(0, Math.floor((Date.now() - this.bootedAt) / 1000));
  }

  /** Opens the connection; returns at once (connection outcomes arrive as events). */
  start(): void {
    if (this.socket || this.stateValue === "stopped" || this.stateValue === "revoked") return;
    const socket = io(`${this.opts.url}/agent`, {
      // A function, so a reconnect after PLUGIN_INSTALL reports the new version.
      auth: (cb) => cb({ device_id: this.deviceId, device_token: this.opts.deviceToken, version: this.version, protocol: LATEST_PROTOCOL }),
      forceNew: true,
      autoConnect: false,
      transports: ["websocket"],
      reconnectionDelay: 2_000,
      reconnectionDelayMax: 30_000,
      randomizationFactor: 0.5,
    });
    this.socket = socket;

    socket.on("connect", () => {
      this.stateValue = "online";
      this.emit({ kind: "connected" });
      this.startHeartbeat();
      void this.outbox.flush();
    });

    socket.on("disconnect", (reason) => {
      this.stopHeartbeat();
      if (this.stateValue === "stopped" || this.stateValue === "revoked" || this.awayCount > 0) return;
      this.emit({ kind: "disconnected", reason });
      if (reason === "io server disconnect") {
        // The server closed us (disabled, deleted, or replaced by another connection):
        // Socket.IO will not reconnect on its own. Try later; the handshake says why.
        this.stateValue = "waiting";
        this.reconnectLater();
      } else {
        this.stateValue = "connecting"; // transport loss: the manager reconnects by itself
      }
    });

    socket.on("connect_error", (err: Error) => {
      if (socket.active) {
        // Transport failure (server down or restarting): the manager keeps retrying.
        this.stateValue = "connecting";
        return;
      }
      const reason = err.message;
      if ((FINAL_REFUSALS as readonly string[]).includes(reason)) {
        this.stateValue = "revoked";
        this.shutdown();
        this.emit({ kind: "revoked", reason: reason as FinalRefusal });
        return;
      }
      this.stateValue = "waiting";
      this.emit({ kind: "refused", reason });
      this.reconnectLater();
    });

    socket.on("task", (msg: unknown, ack: unknown) => {
      this.handleTask(msg, typeof ack === "function" ? (ack as (a: TaskAck) => void) : () => {});
    });

    this.stateValue = "connecting";
    socket.connect();
  }

  /**
   * The agent's side of a dispatch (protocol §3): verify, answer through the ack, then
   * work. Public so tests can drive it without a server.
   */
  handleTask(msg: unknown, ack: (answer: TaskAck) => void): void {
    const verdict = verifyTaskMessage(msg, { publicKey: this.opts.publicKey, deviceId: this.deviceId, lastSeq: this.lastSeqValue });
    if (!verdict.ok) {
      const code = typeof (msg as { code?: unknown } | null)?.code === "string" ? (msg as { code: string }).code : null;
      ack({ accepted: false, reason: verdict.reason });
      this.emit({ kind: "task-refused", code, reason: verdict.reason });
      this.log(`refused task ${code ?? "?"}: ${verdict.reason}`);
      return;
    }
    const env = verdict.envelope;
    this.lastSeqValue = env.seq;
    ack({ accepted: true });
    // The server sends a task again when our ack was lost; it is already running or done.
    if (this.seen.has(env.code)) {
      this.emit({ kind: "task-duplicate", code: env.code });
      return;
    }
    this.remember(env.code);
    this.emit({ kind: "task-accepted", code: env.code, type: env.type });
    this.work(env);
  }

  /** Closes the connection and every timer. Undelivered results stay in `undelivered`. */
  stop(): void {
    if (this.stateValue !== "revoked") this.stateValue = "stopped";
    this.shutdown();
  }

  private work(env: Envelope): void {
    const fail = this.random() < this.failRate;
    const plan = planWork(env.type, env.payload, this.facts, { fail, speed: this.speed, random: this.random });
    this.later(plan.durationMs, () => {
      if (plan.status === "COMPLETED" && plan.update) {
        Object.assign(this.facts, plan.update);
        if (plan.update.pluginVersion) this.version = plan.update.pluginVersion;
      }
      if (plan.downtimeMs === undefined) {
        void this.outbox.add({ code: env.code, status: plan.status, message: plan.message });
        return;
      }
      this.goAway(plan.downtimeMs, (awaySeconds) => ({ code: env.code, status: "COMPLETED", message: afterDowntime(env.type, awaySeconds) }));
    });
  }

  /** Reboot or power cycle: drop the connection, come back after `ms`, then report. */
  private goAway(ms: number, result: (awaySeconds: number) => TaskResult): void {
    const leftAt = Date.now();
    this.awayCount++;
    this.stateValue = "away";
    this.stopHeartbeat();
    this.socket?.disconnect();
    this.emit({ kind: "disconnected", reason: "device going down" });
    this.later(ms, () => {
      this.awayCount--;
      this.bootedAt = Date.now();
      // Queued first, so the flush on connect delivers it.
      void this.outbox.add(result(Math.max(1, Math.round((Date.now() - leftAt) / 1000))));
      if (this.awayCount === 0 && this.socket) {
        this.stateValue = "connecting";
        this.socket.connect();
      }
    });
  }

  private reconnectLater(): void {
    const delay = this.opts.retryDelayMs?.() ?? 10_000 + this.random() * 20_000;
    this.later(delay, () => {
      if (this.socket && !this.socket.connected && (this.stateValue === "waiting" || this.stateValue === "connecting")) {
        this.stateValue = "connecting";
        this.socket.connect();
      }
    });
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const beat = () => {
      void this.emitWithAck("heartbeat", { version: this.version, uptime_seconds: this.uptimeSeconds }).catch(() => {});
    };
    // The first beat lands at a random point of the period so a fleet does not beat in step.
    this.heartbeat = setTimeout(() => {
      beat();
      this.heartbeat = setInterval(beat, this.heartbeatMs);
    }, Math.floor(this.random() * this.heartbeatMs));
  }

  private stopHeartbeat(): void {
    if (this.heartbeat === null) return;
    clearTimeout(this.heartbeat);
    clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private emitWithAck(event: string, payload: unknown): Promise<unknown> {
    const socket = this.socket;
    if (!socket?.connected) return Promise.reject(new Error("not connected"));
    return socket.timeout(this.ackTimeoutMs).emitWithAck(event, payload);
  }

  private shutdown(): void {
    this.stopHeartbeat();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.outbox.close();
    const socket = this.socket;
    if (socket) {
      socket.removeAllListeners();
      socket.disconnect();
    }
  }

  private remember(code: string) {
    this.seen.add(code);
    if (this.seen.size > REMEMBERED_CODES) this.seen.delete(this.seen.values().next().value as string);
  }

  private later(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private cancel(t: ReturnType<typeof setTimeout>) {
    clearTimeout(t);
    this.timers.delete(t);
  }

  private emit(event: SimAgentEvent) {
    this.opts.onEvent?.(event);
  }

  private log(line: string) {
    this.opts.log?.(`${this.name}: ${line}`);
  }
}

const serverKeySchema = z.object({ algorithm: z.literal("Ed25519"), public_key: z.string().min(1) });

/** GET /api/v1/agent/server-key → the key to pin (protocol §1). */
export async function fetchServerKey(url: string, fetchImpl: typeof fetch = fetch): Promise<KeyObject> {
  const res = await fetchImpl(`${url}/api/v1/agent/server-key`, { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`GET /api/v1/agent/server-key answered ${res.status}`);
  const body = serverKeySchema.safeParse(await res.json().catch(() => null));
  if (!body.success) throw new Error("GET /api/v1/agent/server-key did not return an Ed25519 key");
  const key = createPublicKey(body.data.public_key);
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`The server key is ${key.asymmetricKeyType}, expected ed25519`);
  return key;
}
