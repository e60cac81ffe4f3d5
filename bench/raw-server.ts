// The floor of the socket figures: a bare http + Socket.IO server with the same namespaces,
// rooms and message shapes as Taskwire's, and no database, signing or coalescing. Run as
// its own process by bench/run.ts; prints "raw server on <url>".
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { LIVE_INTERVAL_MS } from "../lib/live/protocol";

const httpServer = createServer();
const io = new Server(httpServer, { serveClient: false });
const agents = io.of("/agent");
const live = io.of("/live");

let counter = 0;
const nextCode = () => `R${(counter++).toString(36).padStart(7, "0")}`;
// A task message of the same size as Taskwire's (a signed envelope is ~300 bytes).
const filler = randomBytes(160).toString("base64url");
const message = (deviceId: string, seq: number) => {
  const code = nextCode();
  return { code, type: "SYNC", payload: null, expires_at: new Date(Date.now() + 86_400_000).toISOString(), seq, envelope: filler, signature: filler.slice(0, 86), device_id: deviceId };
};

agents.use((socket, next) => {
  const id = (socket.handshake.auth as { device_id?: unknown }).device_id;
  if (typeof id !== "string") return next(new Error("unauthorized"));
  socket.data.deviceId = id;
  next();
});
agents.on("connection", (socket) => {
  void socket.join(`device:${socket.data.deviceId as string}`);
  socket.on("heartbeat", (_msg: unknown, ack: (v: unknown) => void) => ack({ ok: true }));
  socket.on("result", (msg: { code?: string }, ack: (v: unknown) => void) => {
    ack({ ok: true });
    // The floor of "result acknowledged → browser": the same coalescing window as Taskwire's
    // live channel, without reading anything back from a database.
    if (typeof msg.code === "string") changed.push(msg.code);
    timer ??= setTimeout(flush, LIVE_INTERVAL_MS);
  });
});
let changed: string[] = [];
let timer: NodeJS.Timeout | undefined;
function flush() {
  timer = undefined;
  const codes = changed;
  changed = [];
  live.to("org").emit("patch", { sent: new Date().toISOString(), codes });
}
live.on("connection", (socket) => {
  socket.on("watch", (_msg: unknown, ack: (v: unknown) => void) => {
    void socket.join("org");
    if (typeof ack === "function") ack({ ok: true });
  });
});

const seqs = new Map<string, number>();
const seq = (id: string) => {
  const n = (seqs.get(id) ?? 0) + 1;
  seqs.set(id, n);
  return n;
};

httpServer.on("request", (req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  if (req.method === "POST" && url.pathname === "/emit") {
    // One task to one device: the floor of dispatch latency.
    const device = url.searchParams.get("device") ?? "";
    const m = message(device, seq(device));
    agents.to(`device:${device}`).timeout(10_000).emit("task", m, () => {});
    res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ code: m.code }));
    return;
  }
  if (req.method === "POST" && url.pathname === "/fanout") {
    // `per` tasks to every connected agent, as fast as the server can emit them.
    const per = Number(url.searchParams.get("per") ?? "1");
    let n = 0;
    for (const socket of agents.sockets.values()) {
      const id = socket.data.deviceId as string;
      for (let i = 0; i < per; i++, n++) socket.timeout(10_000).emit("task", message(id, seq(id)), () => {});
    }
    res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ total: n }));
    return;
  }
  res.writeHead(404).end();
});

httpServer.listen(0, "127.0.0.1", () => {
  console.log(`raw server on http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`);
});
process.on("SIGTERM", () => {
  void io.close();
  httpServer.close(() => process.exit(0));
});
