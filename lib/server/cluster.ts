import { EventEmitter } from "node:events";
import pg from "pg";
import { PG_SESSION } from "../../db/pg";
import { z } from "zod";
import { DEVICE_CHANGES, FANOUT_CHANGES, publish, subscribe, type DomainEvent } from "../events";
import { soonestDueAfter } from "../tasks/due";
import { metrics } from "./metrics";

// Several nodes on one PostgreSQL: what one node must tell the others, as batched hints over
// LISTEN/NOTIFY on one channel. No hint carries a task's data (the receiver reads the rows
// itself), and none is sent per task: each flush packs whatever gathered meanwhile into as
// few NOTIFYs as fit their 8,000-byte payload limit.
//   live  — tasks and fan-outs of an organization changed here: browsers elsewhere are told
//   due   — a creation or start here may fall due `s` ms after it was made at the soonest: each other
//           clock re-reads its next due time if that can be before it wakes anyway, by the
//           rule of its own (lib/tasks/due.ts wakesClock, against its own longest sleep)
//   send  — tasks due for devices connected to node `n` (the dispatcher found no socket here)
//   drop  — devices just connected here: any older connection of theirs elsewhere is closed
//   event — a device or someone's access changed, or an audit row was written, here:
//           published on every node, so the sockets it ends close and the audit pages it
//           concerns refresh wherever they are. Each goes at once, but for an audit row
//           (every action of the API writes one), which rides with the live hints
//   resync — this node's listener connected again: what it sent meanwhile was lost
// Hints are lost while a listener reconnects, both ways: what others sent was not heard, and
// what this node gathered was dropped. Once it is back, every node, this one included, is
// told to look for itself ("resync"): the dispatcher sweeps, the clock wakes, the agents'
// connections are checked against the rows, and browsers re-read what they show.

const CHANNEL = "taskwire";
/** The listener connection's application_name. */
export const LISTENER_NAME = "taskwire-cluster";
/** Below PostgreSQL's NOTIFY payload limit (8,000 bytes), with room for the envelope. */
const PAYLOAD_BYTES = 7_800;
/** Live, clock and audit hints gather this long; the others go on the next turn. */
const GATHER_MS = 25;
/**
 * Events that ride with the live hints rather than go at once: an audit row written here
 * (every action of the API writes one) only refreshes audit pages elsewhere. Sent at once,
 * its NOTIFY, which every node hears, would run beside the dispatch of the very action it
 * records.
 */
const GATHERED_EVENTS: ReadonlySet<DomainEvent["kind"]> = new Set(["audit.recorded"]);
/** The pause before the listener connects again after losing its connection. */
const RECONNECT_MS = 1_000;
/**
 * Resyncs here at most this often: a restart of PostgreSQL sends one from every node, and a
 * listener that keeps losing its connection one a second; one look covers them all, and one
 * that comes meanwhile is looked at once when this has passed.
 */
const RESYNC_SPACING_MS = 2_000;
/**
 * How often the listener asks its connection a trivial question, and how long any of its
 * queries may take. A connection that died without a word (a balancer or NAT that dropped an
 * idle flow) raises no error and hears nothing; without the question it would look alive,
 * and every hint sent after would wait behind a NOTIFY that never returns.
 */
const PROBE_MS = 15_000;
const QUERY_TIMEOUT_MS = 10_000;
/** Ids per part: small enough that several parts pack into one payload. */
const IDS_PER_PART = 400;
const DEVICES_PER_PART = 80;

const id = z.string().min(1).max(200);
const eventSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("device.changed"), organizationId: id, deviceId: id, change: z.enum(DEVICE_CHANGES) }),
  z.object({ kind: z.literal("access.changed"), userId: id.optional(), sessionId: id.optional(), organizationId: id.optional() }),
  z.object({ kind: z.literal("fanout.changed"), organizationId: id, fanoutId: z.number().int().positive(), change: z.enum(FANOUT_CHANGES) }),
  z.object({ kind: z.literal("audit.recorded"), organizationId: id }),
  z.object({ kind: z.enum(["schedule.changed", "schedule.ran"]), organizationId: id, scheduleId: z.number().int().positive() }),
]) satisfies z.ZodType<Exclude<DomainEvent, { kind: "task.transition" }>>;
const partSchema = z.discriminatedUnion("k", [
  z.object({ k: z.literal("live"), o: id, t: z.array(z.number().int()), f: z.array(z.number().int()) }),
  // `s` absent (a node of an earlier version): at once.
  z.object({ k: z.literal("due"), s: z.number().int().nonnegative().default(0) }),
  z.object({ k: z.literal("send"), n: id, t: z.array(z.number().int()) }),
  z.object({ k: z.literal("drop"), d: z.array(id), at: z.number().int() }),
  z.object({ k: z.literal("event"), e: eventSchema }),
  z.object({ k: z.literal("resync") }),
]);
const messageSchema = z.object({ from: id, parts: z.array(partSchema) });
type Part = z.infer<typeof partSchema>;

/** Events another node sent, published in this process: never sent on again. */
const heardFromOthers = new WeakSet<DomainEvent>();

type Heard = {
  live: [organizationId: string, taskIds: number[], fanoutIds: number[]];
  /** Something made on another node may fall due `soonestMs` after it was made (a gather or more before this hint is heard), at the soonest. */
  due: [soonestMs: number];
  send: [taskIds: number[]];
  /** `at`: when the newer connections were recorded; only connections older than that go. */
  drop: [deviceIds: string[], at: number];
  /**
   * Hints were lost: this node's listener is connected again (`from` undefined: what others
   * sent while it was away was not heard), or node `from`'s is (what it sent was dropped).
   */
  resync: [from: string | undefined];
};

/** What the other parts of a node (dispatcher, live channel, clock) see of the cluster. */
export type ClusterLink = {
  readonly nodeId: string;
  on<K extends keyof Heard>(kind: K, listener: (...args: Heard[K]) => void): void;
  /** Tasks due for devices connected to `nodeId`. */
  send(nodeId: string, taskIds: number[]): void;
  /** Devices connected here now: their connections on other nodes are closed. */
  drop(deviceIds: string[]): void;
};

export type Cluster = ClusterLink & {
  /** Whether the listener holds its connection. */
  alive(): boolean;
  stop(): Promise<void>;
};

/**
 * Joins the cluster: one connection of its own that LISTENs (and NOTIFYs, so hints leave in
 * the order they were made), and a subscription to this node's events for the live and
 * clock hints. Rejects if PostgreSQL cannot be reached at start.
 */
export async function joinCluster(url: string, nodeId: string, opts: { probeMs?: number; queryTimeoutMs?: number } = {}): Promise<Cluster> {
  const heard = new EventEmitter<Heard>();
  heard.setMaxListeners(20);
  const outbox = new Outbox();
  let client: pg.Client | undefined;
  let stopped = false;
  let reconnect: NodeJS.Timeout | undefined;
  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  const sentCounter = metrics().clusterNotifies;

  let resyncedAt = -Infinity;
  let resyncTimer: NodeJS.Timeout | undefined;
  const resync = (from: string | undefined) => {
    if (resyncTimer || stopped) return;
    const go = () => {
      resyncTimer = undefined;
      resyncedAt = Date.now();
      heard.emit("resync", from);
    };
    const wait = resyncedAt + RESYNC_SPACING_MS - Date.now();
    if (wait <= 0) return go();
    resyncTimer = setTimeout(go, wait);
    resyncTimer.unref();
  };

  const onNotification = (msg: pg.Notification) => {
    if (msg.channel !== CHANNEL || !msg.payload) return;
    let parsed: z.infer<typeof messageSchema>;
    try {
      parsed = messageSchema.parse(JSON.parse(msg.payload));
    } catch {
      console.error("Ignored a cluster hint that does not parse");
      return;
    }
    if (parsed.from === nodeId) return;
    const remote = new Set<DomainEvent>();
    for (const p of parsed.parts) {
      if (p.k === "live") heard.emit("live", p.o, p.t, p.f);
      else if (p.k === "due") heard.emit("due", p.s);
      else if (p.k === "send" && p.n === nodeId) heard.emit("send", p.t);
      else if (p.k === "drop") heard.emit("drop", p.d, p.at);
      else if (p.k === "event") remote.add(p.e);
      else if (p.k === "resync") resync(parsed.from);
    }
    // Published here as if made here, marked so that no member sends them back out.
    if (remote.size) {
      for (const e of remote) heardFromOthers.add(e);
      publish([...remote]);
    }
  };

  /** Connection `c` is no longer heard: it goes, and the listener connects again. */
  const lose = (c: pg.Client, why: string) => {
    if (client !== c) return;
    console.error(`The cluster listener lost its connection: ${why}; reconnecting`);
    client = undefined;
    void c.end().catch(() => {});
    scheduleReconnect();
  };
  const connect = async () => {
    // Named, so that an operator tells it apart in pg_stat_activity.
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 30_000, application_name: LISTENER_NAME, query_timeout: opts.queryTimeoutMs ?? QUERY_TIMEOUT_MS, ...PG_SESSION });
    c.on("notification", onNotification);
    c.on("error", (e) => lose(c, e.message));
    c.on("end", () => lose(c, "the server closed it"));
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
    } catch (e) {
      // Not kept: it would otherwise stay open, and may hear everything next to the next one.
      c.off("notification", onNotification);
      void c.end().catch(() => {});
      throw e;
    }
    client = c;
  };
  const probe = setInterval(() => {
    const c = client;
    if (c) c.query("select 1").catch((e: Error) => lose(c, `it did not answer (${e.message})`));
  }, opts.probeMs ?? PROBE_MS);
  probe.unref();
  const scheduleReconnect = () => {
    if (stopped || reconnect) return;
    reconnect = setTimeout(() => {
      reconnect = undefined;
      connect().then(() => {
        resync(undefined);
        outbox.resync();
        arm(true);
      }, (e: Error) => {
        console.error(`The cluster listener could not reconnect: ${e.message}`);
        scheduleReconnect();
      });
    }, RECONNECT_MS);
    reconnect.unref();
  };

  const flush = async () => {
    flushTimer = undefined;
    if (flushing) return;
    // While the listener reconnects, what gathered is dropped: a lost hint costs latency only
    // (see the top of this file), and an outbox kept for a long outage would only grow.
    const payloads = outbox.take(nodeId);
    const c = client;
    if (!payloads.length || !c) return;
    flushing = c
      .query("select pg_notify($1, p) from unnest($2::text[]) as p", [CHANNEL, payloads])
      .then(() => void sentCounter.inc(payloads.length))
      .catch((e: Error) => {
        console.error(`Sending ${payloads.length} cluster hints failed: ${e.message}`);
        lose(c, "sending hints failed");
      })
      .finally(() => {
        flushing = undefined;
        // What gathered while these were sent goes next.
        if (!outbox.empty()) arm(outbox.urgent());
      });
    await flushing;
  };
  const arm = (urgent: boolean) => {
    if (flushing || stopped) return;
    if (urgent) {
      clearTimeout(flushTimer);
      flushTimer = undefined;
      setImmediate(() => void flush());
      return;
    }
    flushTimer ??= setTimeout(() => void flush(), GATHER_MS);
  };

  const unsubscribe = subscribe((e: DomainEvent) => {
    if (e.kind !== "task.transition") {
      if (heardFromOthers.has(e)) return;
      outbox.event(e);
      arm(!GATHERED_EVENTS.has(e.kind));
      return;
    }
    outbox.live(e.organizationId, e.taskId, e.fanoutId);
    // Other clocks may sleep past what this creates or starts (a schedule, a lease): each
    // decides for itself from the soonest of what gathered.
    const soonest = soonestDueAfter(e);
    if (soonest !== null) outbox.due(soonest);
    arm(false);
  });

  await connect();

  return {
    nodeId,
    on: (kind, listener) => void heard.on(kind, listener as never),
    send: (to, taskIds) => {
      if (!taskIds.length) return;
      outbox.send(to, taskIds);
      arm(true);
    },
    drop: (deviceIds) => {
      if (!deviceIds.length) return;
      outbox.drop(deviceIds);
      arm(true);
    },
    alive: () => !!client,
    stop: async () => {
      stopped = true;
      unsubscribe();
      clearInterval(probe);
      clearTimeout(reconnect);
      clearTimeout(flushTimer);
      clearTimeout(resyncTimer);
      // What this node gathered last still goes (its final results' live hints).
      await flushing;
      await flush();
      heard.removeAllListeners();
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}

/** Hints gathered since the last flush, packed into payloads when taken. */
class Outbox {
  private liveByOrg = new Map<string, { t: Set<number>; f: Set<number> }>();
  /** The soonest a creation or start gathered may fall due, in ms from its transition; null: none. */
  private dueIn: number | null = null;
  private sends = new Map<string, number[]>();
  /** Each call's devices with when it was made: only connections older than that go. */
  private drops: { d: string[]; at: number }[] = [];
  private events: Exclude<DomainEvent, { kind: "task.transition" }>[] = [];
  private lost = false;

  live(organizationId: string, taskId: number, fanoutId: number | null): void {
    let org = this.liveByOrg.get(organizationId);
    if (!org) this.liveByOrg.set(organizationId, (org = { t: new Set(), f: new Set() }));
    org.t.add(taskId);
    if (fanoutId !== null) org.f.add(fanoutId);
  }
  due(soonestMs: number): void {
    this.dueIn = Math.min(this.dueIn ?? soonestMs, soonestMs);
  }
  send(to: string, taskIds: number[]): void {
    const list = this.sends.get(to) ?? this.sends.set(to, []).get(to)!;
    list.push(...taskIds);
  }
  drop(deviceIds: string[]): void {
    this.drops.push({ d: deviceIds, at: Date.now() });
  }
  event(e: Exclude<DomainEvent, { kind: "task.transition" }>): void {
    this.events.push(e);
  }
  /** What this node sent was dropped: the others are told. */
  resync(): void {
    this.lost = true;
  }
  empty(): boolean {
    return !this.liveByOrg.size && this.dueIn === null && !this.sends.size && !this.drops.length && !this.events.length && !this.lost;
  }
  urgent(): boolean {
    return this.sends.size > 0 || this.drops.length > 0 || this.events.some((e) => !GATHERED_EVENTS.has(e.kind)) || this.lost;
  }

  /** Everything gathered, as JSON payloads of at most PAYLOAD_BYTES each; the outbox is emptied. */
  take(from: string): string[] {
    const parts: Part[] = [];
    for (const [to, ids] of this.sends) for (const t of chunks(ids, IDS_PER_PART)) parts.push({ k: "send", n: to, t });
    for (const { d: ids, at } of this.drops) for (const d of chunks(ids, DEVICES_PER_PART)) parts.push({ k: "drop", d, at });
    for (const [o, { t, f }] of this.liveByOrg) {
      const fanouts = [...f];
      chunks([...t], IDS_PER_PART).forEach((ids, i) => parts.push({ k: "live", o, t: ids, f: i === 0 ? fanouts : [] }));
    }
    if (this.dueIn !== null) parts.push({ k: "due", s: this.dueIn });
    for (const e of this.events) parts.push({ k: "event", e });
    if (this.lost) parts.push({ k: "resync" });
    this.lost = false;
    this.events = [];
    this.liveByOrg = new Map();
    this.dueIn = null;
    this.sends = new Map();
    this.drops = [];
    return pack(from, parts);
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Parts into as few payloads as fit, each `{ from, parts }` under PAYLOAD_BYTES. */
function pack(from: string, parts: Part[]): string[] {
  const head = `{"from":${JSON.stringify(from)},"parts":[`;
  const out: string[] = [];
  let body: string[] = [];
  let size = head.length + 2;
  for (const p of parts) {
    const text = JSON.stringify(p);
    if (body.length && size + text.length + 1 > PAYLOAD_BYTES) {
      out.push(`${head}${body.join(",")}]}`);
      body = [];
      size = head.length + 2;
    }
    body.push(text);
    size += text.length + 1;
  }
  if (body.length) out.push(`${head}${body.join(",")}]}`);
  return out;
}
