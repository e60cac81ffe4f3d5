import { RateLimiterMemory } from "rate-limiter-flexible";
import type { Namespace, Server, Socket } from "socket.io";
import type { Db } from "../../db/client";
import { markOffline, markOnline, reassertPresence, recordHeartbeats } from "../devices/connection";
import { agentVersionSchema, authenticateDevices, type AgentAuth } from "../devices/enrollment";
import { isDomainError } from "../errors";
import { subscribe } from "../events";
import { TickBatch } from "./batch";
import { connectAllowance } from "./connects";
import { deviceRoom, Dispatcher } from "./dispatcher";
import { AgentMoves } from "./moves";
import { protocolSchema, type Protocol } from "./envelope";
import type { ServerKey } from "./keys";
import type { ClusterLink } from "../server/cluster";
import { letThroughOnFault, passes } from "../server/limits";

/** Per device, across all its connections: 20 events a second on average, bursts to 40. */
export const AGENT_EVENTS_PER_2S = 40;
/**
 * Per device: connections accepted in 10 s. Each one costs database work (mark online, read
 * and number the waiting tasks), and a reconnect must not reset the event allowance.
 */
export const AGENT_CONNECTS_PER_10S = 5;

type AgentSocket = Socket & { data: { deviceId: string; organizationId: string; protocol: Protocol } };

const ackFn = (ack: unknown) => (typeof ack === "function" ? (ack as (v: unknown) => void) : () => {});

/**
 * The `/agent` namespace: devices authenticate in middleware before anything else, hold one
 * connection each, receive tasks from the dispatcher and send results and heartbeats, every
 * one of which is parsed before it touches the domain. Every message ends in an answer and
 * every failure in a log line: a connection whose set-up failed is closed (the agent comes
 * back later) rather than left open with the device marked offline.
 */
export function attachAgentNamespace(
  io: Server,
  db: Db,
  key: ServerKey,
  nodeId: string,
  cluster?: { link: ClusterLink; sweepMs: number },
): { nsp: Namespace; reassert: (lost: boolean) => Promise<void>; stop: () => void } {
  const nsp = io.of("/agent");
  // Acknowledgements (the dispatcher hears them) and results arriving together are recorded
  // together: one transaction per batch, one batch at a time.
  const moves = new AgentMoves(db);
  const dispatcher = new Dispatcher(db, nsp, key, moves, cluster?.link, cluster?.sweepMs);
  dispatcher.start();
  // Keyed by device and never reset on disconnect: reconnecting buys no extra allowance. A
  // device's events all reach the one node that holds its connection, and are counted there
  // (a point per event in the database would double an agent's writes); its connects are
  // counted by every node together, so moving between nodes gains at most a few allowances.
  const events = new RateLimiterMemory({ points: AGENT_EVENTS_PER_2S, duration: 2 });
  const connectAllowed = connectAllowance(db, { points: AGENT_CONNECTS_PER_10S, duration: 10 });
  // A fleet that connects, beats or drops at once (a restart, a network cut) is written a
  // batch per turn of the loop, not a transaction per agent.
  const heartbeats = new TickBatch((items: { deviceId: string; raw: unknown }[]) => recordHeartbeats({ db }, items));
  // Connects and disconnects, in the order they happen: one stream, so a device that comes
  // and goes while a batch is written ends as its last event says. Each batch applies each
  // device's last event: online in one transaction, offline in another.
  type Presence = { deviceId: string; online: true; version?: string } | { deviceId: string; online: false };
  // A batch that failed leaves rows that say otherwise than the connections here: the next
  // check after this node's beat writes what the connections say (`reassert`, below).
  let presenceFailed = false;
  /** Devices with a presence write not yet committed, and how many: their rows are not settled. */
  const presencePending = new Map<string, number>();
  const recordPresence = (p: Presence) => {
    presencePending.set(p.deviceId, (presencePending.get(p.deviceId) ?? 0) + 1);
    return presence.add(p).finally(() => {
      const n = presencePending.get(p.deviceId)! - 1;
      if (n) presencePending.set(p.deviceId, n);
      else presencePending.delete(p.deviceId);
    });
  };
  // A connect's answer is the last sequence number of the block reserved for its device.
  const presence = new TickBatch(async (items: Presence[]): Promise<(number | undefined)[]> => {
    const last = new Map(items.map((p) => [p.deviceId, p]));
    const up = [...last.values()].filter((p) => p.online);
    const down = [...last.values()].filter((p) => !p.online).map((p) => p.deviceId);
    try {
      // One connection per device across the cluster too: the node it was on closes its old one.
      const { elsewhere, refused, seqs } = await markOnline({ db }, nodeId, up, { elsewhere: !!cluster });
      cluster?.link.drop(elsewhere);
      // Disabled or deleted while connecting: the news closed no socket yet (it had not joined
      // its room); these close now.
      for (const id of refused) nsp.in(deviceRoom(id)).disconnectSockets(true);
      await markOffline({ db }, nodeId, down);
      return items.map((p) => (p.online ? seqs.get(p.deviceId) : undefined));
    } catch (e) {
      presenceFailed = true;
      throw e;
    }
  });
  /** Devices with a connection here (one each, unless a replacement is under way). */
  const connectedHere = () => [...nsp.sockets.values()].map((s) => (s as AgentSocket).data.deviceId);
  // Another node took these devices' connections: any here that is older goes.
  cluster?.link.on("drop", (deviceIds, at) => {
    for (const id of deviceIds)
      for (const socketId of nsp.adapter.rooms.get(deviceRoom(id)) ?? []) {
        const socket = nsp.sockets.get(socketId);
        if (socket && socket.handshake.issued < at) socket.disconnect(true);
      }
  });
  // The handshakes of a turn of the loop are checked together: one read of their devices.
  const authenticate = new TickBatch((handshakes: unknown[]) => authenticateDevices({ db }, handshakes));
  nsp.use(async (socket, next) => {
    let auth: AgentAuth;
    try {
      auth = await authenticate.add(socket.handshake.auth);
    } catch (e) {
      console.error("Authenticating an agent failed", e);
      return next(new Error("internal"));
    }
    if (!auth.ok) return next(new Error(auth.reason));
    const mayConnect = await connectAllowed(auth.device.id).catch(letThroughOnFault("The agent connect limiter failed"));
    if (!mayConnect) return next(new Error("rate_limited"));
    socket.data.deviceId = auth.device.id;
    socket.data.organizationId = auth.device.organizationId;
    socket.data.protocol = protocolSchema.parse(socket.handshake.auth?.protocol);
    next();
  });

  // The handlers are made once and shared by every connection (Socket.IO calls each with
  // `this` the socket): a node holds tens of thousands of agents, and closures per
  // connection would be kept for as long as each stays.
  const logged = (what: string, deviceId: string) => (e: unknown) => console.error(`${what} (device ${deviceId})`, e);
  /** Answers rate_limited and returns true when the device's allowance is used up. */
  const limited = async (deviceId: string, reply: (v: unknown) => void): Promise<boolean> => {
    if (await passes(events, deviceId, "The agent rate limiter failed")) return false;
    reply({ ok: false, error: "rate_limited" });
    return true;
  };
  async function onResult(this: AgentSocket, msg: unknown, ack: unknown) {
    const { deviceId } = this.data;
    const reply = ackFn(ack);
    if (await limited(deviceId, reply)) return;
    try {
      reply(await moves.result(deviceId, msg));
    } catch (e) {
      logged("Recording a result failed", deviceId)(e);
      reply({ ok: false, error: "internal" });
    }
  }
  async function onHeartbeat(this: AgentSocket, msg: unknown, ack: unknown) {
    const { deviceId } = this.data;
    const reply = ackFn(ack);
    if (await limited(deviceId, reply)) return;
    try {
      const refused = await heartbeats.add({ deviceId, raw: msg });
      if (refused) throw refused;
      reply({ ok: true });
    } catch (e) {
      const invalid = isDomainError(e) && e.code === "invalid";
      if (!invalid) logged("Recording a heartbeat failed", deviceId)(e);
      reply({ ok: false, error: invalid ? "invalid" : "internal" });
    }
  }
  // Anything else an agent sends is not part of the protocol.
  function onOther(event: string, ...args: unknown[]) {
    if (event === "result" || event === "heartbeat") return;
    const last = args[args.length - 1];
    if (typeof last === "function") (last as (v: unknown) => void)({ ok: false, error: "invalid" });
  }
  function onDisconnect(this: AgentSocket) {
    const { deviceId } = this.data;
    nsp
      .in(deviceRoom(deviceId))
      .fetchSockets()
      .then((left) => {
        if (left.length) return;
        dispatcher.closed(deviceId);
        return recordPresence({ deviceId, online: false });
      })
      .catch(logged("Marking the device offline failed", deviceId));
  }

  nsp.on("connection", (raw) => {
    const socket = raw as AgentSocket;
    const { deviceId } = socket.data;
    const room = deviceRoom(deviceId);

    // Handlers first: whatever the set-up below does, every message gets an answer.
    socket.on("result", onResult);
    socket.on("heartbeat", onHeartbeat);
    socket.onAny(onOther);
    socket.on("disconnect", onDisconnect);

    // Numbers held for the device before this connect are not sent on it (Dispatcher.seqs).
    const connection = dispatcher.opened(socket, deviceId);
    // One live connection per device: the newcomer replaces whoever was there.
    nsp
      .in(room)
      .fetchSockets()
      .then((others) => {
        for (const other of others) if (other.id !== socket.id) other.disconnect(true);
      })
      .catch(logged("Replacing an earlier connection failed", deviceId));
    void socket.join(room);
    void (async () => {
      try {
        const version = agentVersionSchema.safeParse(socket.handshake.auth?.version).data;
        const seq = await recordPresence({ deviceId, online: true, version });
        if (seq !== undefined) dispatcher.grant(deviceId, connection, seq);
        await dispatcher.sendPending(deviceId);
      } catch (e) {
        // Connected but unknown to the dispatcher, the agent would wait forever: close it, and
        // it reconnects later to a server that can hear it.
        logged("Setting up an agent connection failed; closing it", deviceId)(e);
        socket.disconnect(true);
      }
    })();
  });

  // A deleted or disabled device loses its connection at once.
  const unsubscribe = subscribe((e) => {
    if (e.kind === "device.changed" && (e.change === "deleted" || e.change === "disabled")) nsp.in(deviceRoom(e.deviceId)).disconnectSockets(true);
  });

  /**
   * After this node's beat (lib/server/liveness.ts): when it was taken for dead (`lost`), or a
   * presence batch failed since the last check, the rows are written over with what the
   * connections here say (reassertPresence). A device another node took meanwhile has its
   * older connection here closed, and so has one disabled or deleted meanwhile; one that is
   * this node's again gets its waiting tasks. Also when the cluster's listener connects again:
   * the hints sent while it was away (drop a connection, a device disabled) were not heard.
   */
  const reassert = async (lost: boolean) => {
    if (!lost && !presenceFailed) return;
    presenceFailed = false;
    try {
      const { elsewhere, online, offline, refused } = await reassertPresence({ db }, nodeId, connectedHere());
      // A device whose connect here is still being written is left alone: its row says where it
      // was, not yet here, and closing it would close the newest connection.
      for (const id of [...elsewhere, ...refused]) if (!presencePending.has(id)) nsp.in(deviceRoom(id)).disconnectSockets(true);
      if (online.length || offline || elsewhere.length || refused.length)
        console.log(`Agents' devices recorded as this server's connections say: ${online.length} online again, ${offline} offline, ${elsewhere.length} connected elsewhere since, ${refused.length} disabled or deleted meanwhile`);
      // As on connect: what waits for them goes now.
      for (const id of online) dispatcher.sendPending(id).catch(logged("Sending the waiting tasks of a device online again failed", id));
    } catch (e) {
      presenceFailed = true;
      throw e;
    }
  };

  cluster?.link.on("resync", () => void reassert(true).catch(logged("Checking the agents' devices after the cluster listener came back failed", "all")));

  return {
    nsp,
    reassert,
    stop: () => {
      unsubscribe();
      dispatcher.stop();
    },
  };
}
