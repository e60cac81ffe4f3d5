// Shared by the sim-* tests: signed task messages, a seeded random, and a tiny stand-in for
// the server's agent side (real HTTP + Socket.IO, protocol-shaped) for the socket tests.
// No state lives here: every helper returns fresh objects.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Server, type Socket } from "socket.io";
import { signEnvelope, type Envelope, type TaskMessage } from "../../lib/agents/envelope";

export function serverKeys(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync("ed25519");
}

/** mulberry32: a deterministic stand-in for Math.random. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A `task` message as the server sends it, signed with `privateKey`. */
export function signedTask(
  privateKey: KeyObject,
  env: Partial<Envelope> & { device_id: string; seq: number },
): TaskMessage {
  const full: Envelope = {
    code: env.code ?? `T${String(env.seq).padStart(7, "0")}`,
    type: env.type ?? "PING",
    payload: env.payload === undefined ? (env.type && env.type !== "PING" ? null : { host: "1.1.1.1", count: 4 }) : env.payload,
    device_id: env.device_id,
    exp: env.exp ?? Math.floor(Date.now() / 1000) + 3600,
    seq: env.seq,
  };
  const { envelope, signature } = signEnvelope(full, privateKey);
  return {
    code: full.code,
    type: full.type,
    payload: full.payload,
    expires_at: new Date(full.exp * 1000).toISOString(),
    seq: full.seq,
    envelope,
    signature,
  };
}

/** Resolves with the first value `pick` returns for an event pushed through `feed`. */
export function waiter<E>() {
  const waits: { pick: (e: E) => boolean; resolve: (e: E) => void }[] = [];
  const seen: E[] = [];
  return {
    seen,
    feed(e: E) {
      seen.push(e);
      for (const w of [...waits]) {
        if (w.pick(e)) {
          waits.splice(waits.indexOf(w), 1);
          w.resolve(e);
        }
      }
    },
    next(pick: (e: E) => boolean): Promise<E> {
      return new Promise((resolve) => waits.push({ pick, resolve }));
    },
  };
}

export interface FakeDevice {
  id: string;
  token: string;
  name: string;
  status: "PENDING" | "ENABLED" | "DISABLED";
  deleted?: boolean;
}

export type ServerEvent =
  | { kind: "handshake"; deviceId: string; refusal: string | null }
  | { kind: "connected"; deviceId: string; socket: Socket }
  | { kind: "result"; deviceId: string; result: { code: string; status: string; message: string } }
  | { kind: "heartbeat"; deviceId: string; body: unknown }
  | { kind: "enroll"; name: string };

/**
 * The protocol's server side, reduced to what the agent needs: server key, enrollment, the
 * /agent handshake, `result` and `heartbeat`. Test code decides the answers through hooks.
 */
export async function fakeServer(opts: {
  publicKey: KeyObject;
  devices?: FakeDevice[];
  autoApprove?: boolean;
  /** Answer for a `result` event; undefined = do not acknowledge. Default: ok. */
  onResult?: (deviceId: string, result: { code: string; status: string; message: string }, socket: Socket) => unknown;
}) {
  const devices = new Map<string, FakeDevice>((opts.devices ?? []).map((d) => [d.id, d]));
  const events = waiter<ServerEvent>();
  let nextId = 1;

  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "GET" && req.url === "/api/v1/agent/server-key") {
      return send(200, { algorithm: "Ed25519", public_key: opts.publicKey.export({ type: "spki", format: "pem" }).toString() });
    }
    if (req.method === "POST" && req.url === "/api/v1/agent/enroll") {
      let text = "";
      req.on("data", (c: Buffer) => (text += c.toString()));
      req.on("end", () => {
        const body = JSON.parse(text) as { registration_token: string; name: string; version: string };
        if (body.registration_token !== "reg_good") return send(401, { error: { code: "unauthorized", message: "Unknown registration token" } });
        if ([...devices.values()].some((d) => d.name === body.name && !d.deleted)) {
          return send(409, { error: { code: "conflict", message: "Name taken" } });
        }
        const id = `00000000-0000-4000-8000-${String(nextId++).padStart(12, "0")}`;
        const d: FakeDevice = { id, token: `dev_${id}`, name: body.name, status: opts.autoApprove ? "ENABLED" : "PENDING" };
        devices.set(id, d);
        events.feed({ kind: "enroll", name: body.name });
        send(201, { device_id: id, device_token: d.token, status: d.status });
      });
      return;
    }
    send(404, { error: { code: "not_found" } });
  });

  const io = new Server(http);
  const nsp = io.of("/agent");
  nsp.use((socket, next) => {
    const auth = socket.handshake.auth as { device_id?: string; device_token?: string };
    const d = auth.device_id ? devices.get(auth.device_id) : undefined;
    const refusal = !d || d.token !== auth.device_token ? "unauthorized" : d.deleted ? "deleted" : d.status === "PENDING" ? "pending_approval" : d.status === "DISABLED" ? "disabled" : null;
    events.feed({ kind: "handshake", deviceId: auth.device_id ?? "", refusal });
    if (refusal) return next(new Error(refusal));
    socket.data.deviceId = d!.id;
    next();
  });
  nsp.on("connection", (socket) => {
    const deviceId = socket.data.deviceId as string;
    socket.on("result", (result: { code: string; status: string; message: string }, ack: (a: unknown) => void) => {
      events.feed({ kind: "result", deviceId, result });
      const answer = opts.onResult ? opts.onResult(deviceId, result, socket) : { ok: true };
      if (answer !== undefined) ack(answer);
    });
    socket.on("heartbeat", (body: unknown, ack: (a: unknown) => void) => {
      events.feed({ kind: "heartbeat", deviceId, body });
      ack({ ok: true });
    });
    events.feed({ kind: "connected", deviceId, socket });
  });

  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    url,
    devices,
    events,
    nsp,
    close: () => new Promise<void>((resolve) => io.close(() => resolve())),
  };
}
