import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import next from "next";
import { Server as SocketServer } from "socket.io";
import { openDatabase, setDb, type Db } from "./db/client";
import { loadOrCreateServerKey } from "./lib/agents/envelope";
import { setServerKey } from "./lib/agents/keys";
import { attachAgentNamespace } from "./lib/agents/namespace";
import { markAllOffline } from "./lib/devices/agents";
import { attachLiveNamespace } from "./lib/live/namespace";
import { readEnv } from "./lib/env";
import { Clock } from "./lib/server/clock";
import { dataDir, ensureSecret } from "./lib/server/secret";
import { join } from "node:path";

const IO_KEY = Symbol.for("taskwire.io");

export type RunningServer = { url: string; port: number; close: () => Promise<void> };

/**
 * One process: the http server carries Next's request handler and Socket.IO. The database
 * is opened and migrated before anything listens; a failing migration exits 1.
 */
export async function startServer(
  overrides: Partial<Record<string, string>> = {},
  hooks: { beforeListen?: (db: Db) => void | Promise<void> } = {},
): Promise<RunningServer> {
  const env = readEnv({ ...process.env, ...overrides });
  process.env.BETTER_AUTH_SECRET = ensureSecret(env.DATABASE_URL, env.BETTER_AUTH_SECRET);
  process.env.DATABASE_URL = env.DATABASE_URL;
  // The address auth builds its own links from, unless the operator names a public one.
  process.env.BETTER_AUTH_URL ??= `http://${env.HOST.includes(":") ? `[${env.HOST}]` : env.HOST}:${env.PORT}`;
  process.env.NEXT_TELEMETRY_DISABLED = "1";

  const db = openDatabase(env.DATABASE_URL, { synchronous: env.TASKWIRE_SQLITE_SYNC });
  setDb(db);
  await hooks.beforeListen?.(db);
  const key = loadOrCreateServerKey(join(dataDir(env.DATABASE_URL), "server-key.pem"));
  setServerKey(key);
  // Nothing is connected before we listen, whatever the file says from before a crash.
  markAllOffline(db);
  // Reconcile before listening: fire, expire and fail whatever came due while down.
  const clock = new Clock(db, env.TASKWIRE_CLOCK_MAX_SLEEP_MS);
  await clock.start();

  const dev = env.NODE_ENV !== "production";
  const httpServer = createServer();
  const app = next({ dev, hostname: env.HOST, port: env.PORT, httpServer });
  await app.prepare();
  const handle = app.getRequestHandler();

  httpServer.on("request", (req: IncomingMessage, res) => {
    // better-auth keys its sign-in rate limit on x-forwarded-for; without a trusted proxy
    // in front, a client could forge it, so it is set from the socket.
    if (!env.TASKWIRE_TRUST_PROXY) req.headers["x-forwarded-for"] = req.socket.remoteAddress ?? "unknown";
    void handle(req, res);
  });

  const io = new SocketServer(httpServer, { serveClient: false });
  (globalThis as { [IO_KEY]?: SocketServer })[IO_KEY] = io;
  const agents = attachAgentNamespace(io, db, key);
  const live = attachLiveNamespace(io, db, { publicUrl: process.env.BETTER_AUTH_URL });

  await new Promise<void>((ok, fail) => {
    httpServer.once("error", fail);
    httpServer.listen(env.PORT, env.HOST, () => ok());
  });
  const port = (httpServer.address() as AddressInfo).port;
  const url = `http://${env.HOST.includes(":") ? `[${env.HOST}]` : env.HOST}:${port}`;

  return {
    url,
    port,
    close: async () => {
      clock.stop();
      agents.stop();
      live.stop();
      await io.close();
      await new Promise<void>((ok) => httpServer.close(() => ok()));
      await app.close();
      db.$client.close();
    },
  };
}

const isMain = import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("/server.ts");
if (isMain) {
  startServer()
    .then((s) => {
      console.log(`Taskwire listening on ${s.url}`);
      let stopping = false;
      const stop = () => {
        // The signal can arrive twice (npm and the process group): close once, completely.
        if (stopping) return;
        stopping = true;
        void s.close().then(() => process.exit(0));
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    })
    .catch((err: unknown) => {
      console.error(`Taskwire failed to start: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}
