// Runs N simulated agents in one process: enrolls the ones the state file does not know,
// connects the rest in small batches, and prints a one-line summary every few seconds.
import type { KeyObject } from "node:crypto";
import { z } from "zod";
import { DEFAULT_AGENT_VERSION, fetchServerKey, SimAgent, type SimAgentEvent } from "./sim-agent";
import { loadState, saveState, StateFileError, type AgentEntry, type FleetState } from "./state";
import type { Random } from "./work";

export interface FleetOptions {
  url: string;
  registrationToken?: string;
  count: number;
  failRate: number;
  offlineRate: number;
  speed: number;
  namePrefix: string;
  statePath: string;
  heartbeatSeconds: number;
  /** Re-enroll agents whose saved token the server refuses (unauthorized/deleted). */
  enrollMissing: boolean;
  /** Run the first `count` agents of the state file by their own names, not <prefix>-NNNN. */
  fromState?: boolean;
  version?: string;
  batchSize?: number;
  summaryIntervalMs?: number;
  log?: (line: string) => void;
  random?: Random;
  fetchImpl?: typeof fetch;
}

/** A problem with what the operator asked for (exit 2), or with the server (exit 1). */
export class FleetError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

export function agentName(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(4, "0")}`;
}

/**
 * Whether agent `index` (1-based) is one that never connects. Spreads exactly
 * floor(count × rate) of them evenly over the fleet and depends only on the index, so the
 * same agents stay offline across restarts with the same flags.
 */
export function isOffline(index: number, rate: number): boolean {
  const eps = 1e-9;
  return Math.floor(index * rate + eps) > Math.floor((index - 1) * rate + eps);
}

const enrollAnswerSchema = z.object({
  device_id: z.string().min(1),
  device_token: z.string().min(1),
  status: z.string(),
});
const errorAnswerSchema = z.object({ error: z.object({ code: z.string(), message: z.string().optional() }) });

export interface FleetSummary {
  wanted: number;
  offlineByDesign: number;
  notEnrolled: number;
  online: number;
  connecting: number;
  waiting: number;
  away: number;
  revoked: number;
  stopped: number;
  accepted: number;
  duplicates: number;
  refused: number;
  completed: number;
  failed: number;
  dropped: number;
  undelivered: number;
}

export class Fleet {
  private state: FleetState = { url: "", agents: [] };
  private key: KeyObject | null = null;
  private readonly agents = new Map<string, SimAgent>();
  private readonly reenrolled = new Map<string, number>();
  private summaryTimer: ReturnType<typeof setInterval> | null = null;
  private stopping = false;
  private offlineByDesign = 0;
  private readonly counts = { accepted: 0, duplicates: 0, refused: 0, completed: 0, failed: 0, dropped: 0 };
  private readonly log: (line: string) => void;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: FleetOptions) {
    this.log = opts.log ?? ((line) => console.log(line));
    this.fetchImpl = opts.fetchImpl ?? fetch;
  }

  async start(): Promise<void> {
    const o = this.opts;
    try {
      this.state = loadState(o.statePath, o.url);
    } catch (e) {
      if (e instanceof StateFileError) throw new FleetError(e.message, 2);
      throw e;
    }
    try {
      this.key = await fetchServerKey(o.url, this.fetchImpl);
    } catch (e) {
      throw new FleetError(`Cannot get the server key from ${o.url}: ${(e as Error).message}`, 1);
    }

    const names = o.fromState ? this.state.agents.slice(0, o.count).map((a) => a.name) : Array.from({ length: o.count }, (_, i) => agentName(o.namePrefix, i + 1));
    const known = new Set(this.state.agents.map((a) => a.name));
    const missing = names.filter((n) => !known.has(n));
    if (missing.length > 0) {
      if (!o.registrationToken) {
        throw new FleetError(
          `${missing.length} of ${o.count} agents are not enrolled yet (state file ${o.statePath}); pass --registration-token`,
          2,
        );
      }
      this.log(`Enrolling ${missing.length} agent${missing.length === 1 ? "" : "s"} with ${o.url}…`);
      await this.enrollAll(missing);
    }

    this.offlineByDesign = names.filter((_, i) => isOffline(i + 1, o.offlineRate)).length;
    const online = names.filter((_, i) => !isOffline(i + 1, o.offlineRate));
    this.log(
      `Starting ${online.length} agent${online.length === 1 ? "" : "s"}` +
        (this.offlineByDesign ? ` (${this.offlineByDesign} stay offline by design)` : "") +
        ` · fail rate ${o.failRate} · speed ×${o.speed} · state ${o.statePath}`,
    );
    this.summaryTimer = setInterval(() => {
      this.persistSeqs();
      this.log(this.summaryLine());
    }, o.summaryIntervalMs ?? 10_000);

    // Small batches, each waiting for its handshakes to settle: 1,000 agents must not
    // stampede the server's handshake (one SQLite lookup each) all at once.
    const batchSize = o.batchSize ?? 25;
    for (let i = 0; i < online.length && !this.stopping; i += batchSize) {
      const batch = online.slice(i, i + batchSize).map((name) => this.state.agents.find((a) => a.name === name));
      await Promise.all(batch.map((entry) => (entry ? this.launch(entry) : Promise.resolve())));
    }
    if (!this.stopping) this.log(this.summaryLine());
  }

  /** Stops every agent and saves the last sequence numbers. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.summaryTimer) clearInterval(this.summaryTimer);
    for (const agent of this.agents.values()) agent.stop();
    this.persistSeqs();
    const undelivered = [...this.agents.values()].reduce((n, a) => n + a.undelivered.length, 0);
    this.log(this.summaryLine());
    if (undelivered > 0) this.log(`${undelivered} result${undelivered === 1 ? " was" : "s were"} not delivered before stopping.`);
  }

  summary(): FleetSummary {
    const s: FleetSummary = {
      wanted: this.opts.count,
      offlineByDesign: this.offlineByDesign,
      notEnrolled: 0,
      online: 0,
      connecting: 0,
      waiting: 0,
      away: 0,
      revoked: 0,
      stopped: 0,
      ...this.counts,
      undelivered: 0,
    };
    for (const a of this.agents.values()) {
      if (a.state === "online") s.online++;
      else if (a.state === "connecting" || a.state === "idle") s.connecting++;
      else if (a.state === "waiting") s.waiting++;
      else if (a.state === "away") s.away++;
      else if (a.state === "revoked") s.revoked++;
      else if (a.state === "stopped") s.stopped++;
      s.undelivered += a.undelivered.length;
    }
    const enrolled = new Set(this.state.agents.map((a) => a.name));
    // A fleet run from its state file is enrolled by definition.
    if (!this.opts.fromState) for (let i = 1; i <= this.opts.count; i++) if (!enrolled.has(agentName(this.opts.namePrefix, i))) s.notEnrolled++;
    return s;
  }

  summaryLine(): string {
    const s = this.summary();
    const time = new Date().toTimeString().slice(0, 8);
    const parts = [`${s.online}/${s.wanted - s.offlineByDesign} online`];
    if (s.connecting) parts.push(`${s.connecting} connecting`);
    if (s.waiting) parts.push(`${s.waiting} waiting (approval/disabled)`);
    if (s.away) parts.push(`${s.away} rebooting`);
    if (s.revoked) parts.push(`${s.revoked} revoked`);
    if (s.stopped) parts.push(`${s.stopped} stopped`);
    if (s.offlineByDesign) parts.push(`${s.offlineByDesign} offline by design`);
    if (s.notEnrolled) parts.push(`${s.notEnrolled} not enrolled`);
    const tasks = `tasks: ${s.accepted} accepted, ${s.completed} done, ${s.failed} failed, ${s.refused} refused` + (s.dropped ? `, ${s.dropped} results dropped` : "");
    const outbox = s.undelivered ? ` · ${s.undelivered} results waiting to be delivered` : "";
    return `${time} agents: ${parts.join(", ")} · ${tasks}${outbox}`;
  }

  /** Creates and connects one agent; resolves at its first handshake outcome (or after 10 s). */
  private launch(entry: AgentEntry): Promise<void> {
    if (this.stopping || !this.key) return Promise.resolve();
    const o = this.opts;
    let settle: () => void = () => {};
    const first = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const cap = setTimeout(settle, 10_000);
    cap.unref();
    const agent = new SimAgent({
      url: o.url,
      name: entry.name,
      deviceId: entry.device_id,
      deviceToken: entry.device_token,
      publicKey: this.key,
      version: entry.version ?? o.version ?? DEFAULT_AGENT_VERSION,
      lastSeq: entry.last_seq,
      speed: o.speed,
      failRate: o.failRate,
      heartbeatSeconds: o.heartbeatSeconds,
      random: o.random,
      log: this.log,
      onEvent: (event) => {
        if (event.kind === "connected" || event.kind === "refused" || event.kind === "revoked") {
          clearTimeout(cap);
          settle();
        }
        this.onAgentEvent(agent, entry, event);
      },
    });
    this.agents.set(entry.name, agent);
    agent.start();
    return first;
  }

  private onAgentEvent(agent: SimAgent, entry: AgentEntry, event: SimAgentEvent) {
    switch (event.kind) {
      case "task-accepted":
        this.counts.accepted++;
        break;
      case "task-duplicate":
        this.counts.duplicates++;
        break;
      case "task-refused":
        this.counts.refused++;
        break;
      case "result-settled":
        if (event.settlement.outcome === "dropped") {
          this.counts.dropped++;
          this.log(`${agent.name}: result for ${event.result.code} dropped by the server (${event.settlement.error})`);
        } else if (event.result.status === "COMPLETED") this.counts.completed++;
        else this.counts.failed++;
        break;
      case "revoked":
        void this.onRevoked(agent, entry, event.reason);
        break;
      case "refused":
        // pending_approval/disabled: expected until an admin acts; the summary counts them.
        break;
    }
  }

  /** The server refused a saved token for good: forget it, and enroll afresh if asked to. */
  private async onRevoked(agent: SimAgent, entry: AgentEntry, reason: string) {
    this.log(`${agent.name}: the server refused its token (${reason}); forgetting it`);
    this.state.agents = this.state.agents.filter((a) => a !== entry);
    saveState(this.opts.statePath, this.state);
    if (this.stopping || !this.opts.enrollMissing) return;
    if (!this.opts.registrationToken) {
      this.log(`${agent.name}: not re-enrolling: no --registration-token given`);
      return;
    }
    // A token that is refused right after enrolling would loop forever: give up after two tries.
    const tries = (this.reenrolled.get(agent.name) ?? 0) + 1;
    this.reenrolled.set(agent.name, tries);
    if (tries > 2) {
      this.log(`${agent.name}: refused again after re-enrolling; leaving it out`);
      return;
    }
    const fresh = await this.enrollOne(agent.name).catch((e: unknown) => {
      this.log(`${agent.name}: re-enrolling failed: ${(e as Error).message}`);
      return null;
    });
    if (!fresh || this.stopping) return;
    this.log(`${agent.name}: enrolled again as device ${fresh.device_id}`);
    void this.launch(fresh);
  }

  private async enrollAll(names: string[]): Promise<void> {
    // A few requests at a time: enrollment is a write transaction on the server.
    const queue = [...names];
    let enrolled = 0;
    let fatal: FleetError | null = null;
    const worker = async () => {
      for (let name = queue.shift(); name && !fatal && !this.stopping; name = queue.shift()) {
        try {
          if (await this.enrollOne(name)) enrolled++;
        } catch (e) {
          if (e instanceof FleetError) fatal = e;
          else this.log(`${name}: enrollment failed: ${(e as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, names.length) }, worker));
    if (fatal) throw fatal;
    this.log(`Enrolled ${enrolled} of ${names.length}.`);
  }

  /** POST /api/v1/agent/enroll; saves the token at once (it is shown only this time). */
  private async enrollOne(name: string): Promise<AgentEntry | null> {
    const o = this.opts;
    const version = o.version ?? DEFAULT_AGENT_VERSION;
    let res: Response;
    try {
      res = await this.fetchImpl(`${o.url}/api/v1/agent/enroll`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ registration_token: o.registrationToken, name, version }),
      });
    } catch (e) {
      throw new FleetError(`Cannot reach ${o.url}: ${(e as Error).message}`, 1);
    }
    const body: unknown = await res.json().catch(() => null);
    if (res.status === 429 && !this.stopping) {
      // Enrollment is throttled (protocol §1): wait as long as the server says, then again.
      const seconds = Math.min(Math.max(Number(res.headers.get("retry-after")) || 5, 1), 120);
      await new Promise((r) => setTimeout(r, seconds * 1000));
      return this.enrollOne(name);
    }
    if (res.status === 201) {
      const answer = enrollAnswerSchema.safeParse(body);
      if (!answer.success) throw new Error("the enroll answer is not { device_id, device_token, status }");
      const entry: AgentEntry = { name, device_id: answer.data.device_id, device_token: answer.data.device_token, version };
      this.state.agents = [...this.state.agents.filter((a) => a.name !== name), entry];
      saveState(o.statePath, this.state);
      return entry;
    }
    const err = errorAnswerSchema.safeParse(body);
    const detail = err.success ? `${err.data.error.code}${err.data.error.message ? `: ${err.data.error.message}` : ""}` : `HTTP ${res.status}`;
    if (res.status === 401) throw new FleetError(`The server refused the registration token (${detail})`, 2);
    if (res.status === 409) {
      this.log(`${name}: not enrolled: the organization already has a device with this name (delete it, or use another --name-prefix)`);
      return null;
    }
    throw new Error(detail);
  }

  /** Saves each agent's last accepted sequence number (and version) when they changed. */
  private persistSeqs() {
    let changed = false;
    for (const entry of this.state.agents) {
      const agent = this.agents.get(entry.name);
      if (!agent) continue;
      if (agent.lastSeq !== (entry.last_seq ?? 0) || agent.agentVersion !== entry.version) {
        entry.last_seq = agent.lastSeq;
        entry.version = agent.agentVersion;
        changed = true;
      }
    }
    if (changed) saveState(this.opts.statePath, this.state);
  }
}
