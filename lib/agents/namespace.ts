import { RateLimiterMemory } from "rate-limiter-flexible";
import type { Namespace, Server, Socket } from "socket.io";
import type { Db } from "../../db/client";
import { agentVersionSchema, authenticateDevice, markOffline, markOnline, recordHeartbeat } from "../devices/agents";
import { isDomainError } from "../errors";
import { subscribe } from "../events";
import { reportResults } from "../tasks/agent";
import { TickBatch } from "./batch";
import { deviceRoom, Dispatcher } from "./dispatcher";
import type { ServerKey } from "./keys";

/** Per connection: 20 events a second on average, bursts to 40. */
export const AGENT_EVENTS_PER_2S = 40;

type AgentSocket = Socket & { data: { deviceId: string; organizationId: string } };

const ackFn = (ack: unknown) => (typeof ack === "function" ? (ack as (v: unknown) => void) : () => {});

/**
 * The `/agent` namespace: devices authenticate in middleware before anything else, hold one
 * connection each, receive tasks from the dispatcher and send results and heartbeats, every
 * one of which is parsed before it touches the domain.
 */
export function attachAgentNamespace(io: Server, db: Db, key: ServerKey): { nsp: Namespace; stop: () => void } {
  const nsp = io.of("/agent");
  const dispatcher = new Dispatcher(db, nsp, key);
  dispatcher.start();
  const limiter = new RateLimiterMemory({ points: AGENT_EVENTS_PER_2S, duration: 2 });
  // Results arriving together are recorded together: one transaction per turn of the loop.
  const results = new TickBatch((items: { deviceId: string; raw: unknown }[]) => reportResults(db, items));

  nsp.use((socket, next) => {
    const auth = authenticateDevice(db, socket.handshake.auth);
    if (!auth.ok) return next(new Error(auth.reason));
    socket.data.deviceId = auth.device.id;
    socket.data.organizationId = auth.device.organizationId;
    next();
  });

  nsp.on("connection", (raw) => {
    const socket = raw as AgentSocket;
    const { deviceId } = socket.data;
    const room = deviceRoom(deviceId);
    // One live connection per device: the newcomer replaces whoever was there.
    void nsp
      .in(room)
      .fetchSockets()
      .then((others) => {
        for (const other of others) if (other.id !== socket.id) other.disconnect(true);
      });
    void socket.join(room);
    const version = agentVersionSchema.safeParse(socket.handshake.auth?.version).data;
    markOnline(db, deviceId, version);
    dispatcher.sendPending(deviceId);

    const limited = async (ack: (v: unknown) => void): Promise<boolean> => {
      try {
        await limiter.consume(socket.id);
        return false;
      } catch {
        ack({ ok: false, error: "rate_limited" });
        return true;
      }
    };

    socket.on("result", async (msg: unknown, ack: unknown) => {
      const reply = ackFn(ack);
      if (await limited(reply)) return;
      try {
        reply(await results.add({ deviceId, raw: msg }));
      } catch (e) {
        console.error("Recording a result failed", e);
        reply({ ok: false, error: "internal" });
      }
    });

    socket.on("heartbeat", async (msg: unknown, ack: unknown) => {
      const reply = ackFn(ack);
      if (await limited(reply)) return;
      try {
        recordHeartbeat(db, deviceId, msg);
        reply({ ok: true });
      } catch (e) {
        if (!isDomainError(e)) console.error("Recording a heartbeat failed", e);
        reply({ ok: false, error: isDomainError(e) ? "invalid" : "internal" });
      }
    });

    // Anything else an agent sends is not part of the protocol.
    socket.onAny((event: string, ...args: unknown[]) => {
      if (event === "result" || event === "heartbeat") return;
      const last = args[args.length - 1];
      if (typeof last === "function") (last as (v: unknown) => void)({ ok: false, error: "invalid" });
    });

    socket.on("disconnect", () => {
      void limiter.delete(socket.id);
      void nsp
        .in(room)
        .fetchSockets()
        .then((left) => {
          if (!left.length) markOffline(db, deviceId);
        });
    });
  });

  // A deleted or disabled device loses its connection at once.
  const unsubscribe = subscribe((e) => {
    if (e.kind === "device.changed" && (e.change === "deleted" || e.change === "disabled")) nsp.in(deviceRoom(e.deviceId)).disconnectSockets(true);
  });

  return {
    nsp,
    stop: () => {
      unsubscribe();
      dispatcher.stop();
    },
  };
}
