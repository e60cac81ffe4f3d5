import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import next from "next";
import { Server as SocketServer } from "socket.io";
import { isApiPath, serveApi } from "./api/router";
import { closeDatabase, openDatabase, setDb, type Db } from "./db/client";
import { observeTransactions, writesSettled } from "./db/transaction";
import { dialectOf } from "./db/dialect";
import { loadOrCreateServerKey, newServerKeyPem, parseServerKey } from "./lib/agents/envelope";
import { setServerKey } from "./lib/agents/keys";
import { attachAgentNamespace } from "./lib/agents/namespace";
import { attachLiveNamespace } from "./lib/live/namespace";
import { settledAddress } from "./lib/auth/origin";
import { readEnv } from "./lib/env";
import { startCheckpointer } from "./lib/server/checkpointer";
import { subscribe } from "./lib/events";
import { healthRoutes } from "./lib/server/health";
import { joinCluster } from "./lib/server/cluster";
import { gaugeConnections, metrics } from "./lib/server/metrics";
import { guardRequest } from "./lib/server/request-guard";
import { RolloutDriver } from "./lib/server/rollouts";
import { Purger } from "./lib/server/purger";
import { ScheduleClock } from "./lib/server/schedule-clock";
import { Scheduler } from "./lib/server/scheduler";
import { startLiveness } from "./lib/server/liveness";
import { startQuietCollector } from "./lib/server/quiet-collector";
import { dataDir, ensureSecret, newSecret, sharedSecret } from "./lib/server/secret";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

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
  const pg = dialectOf(env.DATABASE_URL) === "pg";
  process.env.DATABASE_URL = env.DATABASE_URL;
  // The address auth builds its own links from, unless the operator names a public one.
  // (PORT=0 picks a free port: the URL is settled once the server listens, before any request.)
  const publicUrlGiven = !!process.env.BETTER_AUTH_URL;
  process.env.NEXT_TELEMETRY_DISABLED = "1";

  // SQLite: the secrets live beside the file. The key first: a damaged key file stops start-up
  // before the database is touched.
  const fileKey = pg || env.TASKWIRE_SIGNING_KEY ? undefined : loadOrCreateServerKey(join(dataDir(env.DATABASE_URL), "server-key.pem"));
  if (!pg) process.env.BETTER_AUTH_SECRET = ensureSecret(env.DATABASE_URL, env.BETTER_AUTH_SECRET);
  // A damaged database file stops start-up here (quick_check), before migrations write to it;
  // PostgreSQL out of reach stops it with the URL, without its password.
  const db = await openDatabase(env.DATABASE_URL, { synchronous: env.TASKWIRE_SQLITE_SYNC, check: env.TASKWIRE_STARTUP_CHECK === "quick", poolSize: env.TASKWIRE_PG_POOL });
  setDb(db);
  // PostgreSQL: every node signs with the same key and the same session secret (agents pin
  // the key), from the environment or else the database, never a node's own disk.
  if (pg) process.env.BETTER_AUTH_SECRET = env.BETTER_AUTH_SECRET ?? (await sharedSecret(db, "auth-secret", newSecret));
  const key = env.TASKWIRE_SIGNING_KEY
    ? parseServerKey(env.TASKWIRE_SIGNING_KEY, (problem) => new Error(`TASKWIRE_SIGNING_KEY ${problem}`))
    : (fileKey ?? parseServerKey(await sharedSecret(db, "signing-key", newServerKeyPem), (problem) => new Error(`The signing key in server_secrets ${problem}`)));
  // SQLite: WAL checkpoints run in a worker thread, off the event loop (lib/server/checkpointer.ts).
  const checkpointer = pg ? { stop: async () => {} } : startCheckpointer(db, env.DATABASE_URL);
  await hooks.beforeListen?.(db);
  setServerKey(key);
  // This node in `nodes`. Devices online through a node that is gone (on SQLite: any earlier
  // run) are marked offline; on PostgreSQL the other nodes' agents stay theirs. Leases do not
  // run out while no server could hear the agents: those the downtime ate into are lengthened
  // before the clock judges them (lib/server/liveness.ts).
  const liveness = await startLiveness({ db }, { sole: !pg });
  if (liveness.extended || liveness.graced) {
    const down = liveness.lastSeen ? `${Math.round((Date.now() - liveness.lastSeen.getTime()) / 1000)} s` : "an unknown time";
    console.log(`The server was down ${down}: ${liveness.extended} running task leases lengthened by it, ${liveness.graced} held for agents to reconnect`);
  }
  // Several nodes on PostgreSQL: batched hints between them over LISTEN/NOTIFY
  // (lib/server/cluster.ts), for dispatch, live patches, the clocks and closing sockets.
  const cluster = pg ? await joinCluster(env.DATABASE_URL, liveness.nodeId) : undefined;
  // Reconcile before listening: fire, expire and fail whatever came due while down. Every node
  // runs the clock; each claims its own batches, and a hint wakes it for what another made due.
  const scheduler = new Scheduler(db, env.TASKWIRE_CLOCK_MAX_SLEEP_MS);
  cluster?.on("due", (soonestMs) => scheduler.wake(soonestMs));
  await scheduler.start();
  // Staged rollouts: the next step of each after its tasks finish, and on a sweep for timed
  // pauses between waves (lib/server/rollouts.ts). Any node may step any rollout.
  const rollouts = new RolloutDriver(db, env.TASKWIRE_ROLLOUT_SWEEP_MS);
  rollouts.start();
  // Retention: what is past its time leaves the database, in small batches (lib/tasks/purge.ts).
  const purger = new Purger(db, { intervalMs: env.TASKWIRE_PURGE_INTERVAL_MS, ceilingDays: env.TASKWIRE_RETENTION_MAX_DAYS ?? null });
  purger.start();
  // Recurring schedules: each due time fired once, here or on another node (lib/schedules).
  const scheduleClock = new ScheduleClock(db, env.TASKWIRE_CLOCK_MAX_SLEEP_MS);
  scheduleClock.start();
  // Hints were lost (a listener reconnected): what they would have woken is looked at now.
  cluster?.on("resync", () => {
    scheduler.poke();
    scheduleClock.wake();
  });

  const dev = env.NODE_ENV !== "production";
  // tsx, which runs this file, turns Node's source maps on for the whole process: every
  // module Next loads would then have its map read and parsed as it loads (31 MB of maps in
  // the build's server folder, more in Next's own), about 65 MB resident for what only a
  // stack trace reads (docs/performance.md). `next start` leaves them off in production,
  // and so does this server: a stack trace in its log names the compiled lines, in the same
  // files and functions.
  if (!dev) process.setSourceMapsEnabled(false);
  // What a burst grew the heap by goes back to the system once the loop is quiet again.
  const collector = dev ? undefined : startQuietCollector();
  const httpServer = createServer({ keepAliveTimeout: KEEP_ALIVE_MS, headersTimeout: KEEP_ALIVE_MS + 1_000 });
  // Next.js hears websocket upgrades on the server it is given: for its dev server's hot
  // reload, and for rewrites to another host, which this app has none of. Every agent's
  // upgrade ran Next's router first, for nothing: 1.4 s of CPU in a storm of 10,000 connects
  // (docs/performance.md). Next gets an emitter of its own, and the upgrades that are not
  // Socket.IO's.
  const nextUpgrades = new EventEmitter();
  const app = next({ dev, hostname: env.HOST, port: env.PORT, httpServer: nextUpgrades as unknown as HttpServer });
  await app.prepare();
  const handle = app.getRequestHandler();

  const loopMonitor = env.TASKWIRE_LOOP_MONITOR ? loopDelayRoute() : undefined;
  // For load balancers and monitoring: /healthz (up), /readyz (database, migrations, clock)
  // and /metrics, every series labelled with this node's id.
  const health = healthRoutes(db, { clock: () => scheduler.alive(), listener: cluster && (() => cluster.alive()) });
  const m = metrics();
  m.registry.setDefaultLabels({ node: liveness.nodeId });
  observeTransactions((kind, seconds) => m.transactionSeconds.observe({ kind }, seconds));
  const countTransitions = subscribe((e) => {
    if (e.kind === "task.transition") m.transitions.inc({ to: e.to });
  });
  httpServer.on("request", (req: IncomingMessage, res) => {
    if (health(req, res)) return;
    if (loopMonitor?.(req, res)) return;
    guardRequest(req, res, (checked, path) => {
      // The JSON API is served here, ahead of Next's router (api/router.ts); pages, server
      // actions and better-auth's routes by Next.
      if (isApiPath(path)) serveApi(checked, res, path);
      else void handle(checked, res);
    });
  });

  // Socket.IO's settings; why each holds is in docs/performance.md ("Socket.IO's settings").
  // On PostgreSQL, the setup for several nodes, websocket only: a long-polling session is a
  // series of requests that a load balancer without sticky sessions spreads over the nodes,
  // so it would fail now and then; refused, it fails at once and says why. SQLite (one node
  // by construction) takes both.
  const io = new SocketServer(httpServer, {
    serveClient: false,
    transports: pg ? ["websocket"] : ["polling", "websocket"],
    perMessageDeflate: false,
    maxHttpBufferSize: 1e6,
    pingInterval: 25_000,
    pingTimeout: 20_000,
  });
  // The client's address is settled once, before anything reads it (better-auth's sign-in
  // limit, enrollment's, the live channel's connects): pages, the API and both sockets'
  // handshakes, long-polling or websocket. Ahead of Socket.IO's own listeners.
  for (const event of ["request", "upgrade"] as const) {
    httpServer.prependListener(event, (req: IncomingMessage) => {
      req.headers["x-forwarded-for"] = settledAddress(req.headers["x-forwarded-for"], req.socket.remoteAddress);
    });
  }
  const socketIoPath = `${io.path()}/`;
  httpServer.on("upgrade", (req: IncomingMessage, socket, head) => {
    if (!req.url?.startsWith(socketIoPath)) nextUpgrades.emit("upgrade", req, socket, head);
  });
  const agents = attachAgentNamespace(io, db, key, liveness.nodeId, cluster && { link: cluster, sweepMs: env.TASKWIRE_DISPATCH_SWEEP_MS });
  // The rows follow the connections here again after this node was taken for dead, or a
  // presence write failed.
  liveness.afterEachBeat((lost) => agents.reassert(lost));
  const live = attachLiveNamespace(io, db, { recheckMs: env.TASKWIRE_LIVE_RECHECK_MS, cluster });
  gaugeConnections({ agents: () => io.of("/agent").sockets.size, liveClients: () => io.of("/live").sockets.size });

  await new Promise<void>((ok, fail) => {
    httpServer.once("error", fail);
    // A fleet reconnecting at once after a restart overflows Node's default accept queue (511):
    // the kernel drops their connection requests, and each agent waits out TCP's retransmission
    // backoff (1, 3, 7, 15, 31 s) before it is heard. The kernel caps this at net.core.somaxconn.
    httpServer.listen({ port: env.PORT, host: env.HOST, backlog: LISTEN_BACKLOG }, () => ok());
  });
  const port = (httpServer.address() as AddressInfo).port;
  const url = `http://${env.HOST.includes(":") ? `[${env.HOST}]` : env.HOST}:${port}`;
  if (!publicUrlGiven) {
    process.env.BETTER_AUTH_URL = url;
    // An auth instance made before listening (the demo seed) knew no URL: the next use makes one that does.
    delete (globalThis as Record<symbol, unknown>)[Symbol.for("taskwire.auth")];
  }

  return {
    url,
    port,
    close: async () => {
      scheduler.stop();
      rollouts.stop();
      await purger.stop();
      await scheduleClock.stop();
      countTransitions();
      await liveness.stop();
      loopMonitor?.stop();
      collector?.stop();
      agents.stop();
      live.stop();
      await io.close();
      await new Promise<void>((ok) => httpServer.close(() => ok()));
      await app.close();
      // Writes already queued (agent results of a last batch, the last beat) commit first.
      await writesSettled(db);
      await cluster?.stop();
      await checkpointer.stop();
      await closeDatabase(db);
    },
  };
}

/** Connections the kernel holds for the server before it accepts them. */
const LISTEN_BACKLOG = 4096;
/**
 * How long an idle keep-alive connection stays open (Node's default is 5 s). A client that
 * sends its next request on the connection just as the server closes it gets ECONNRESET, and
 * a POST is not retried; clients and balancers keep connections for a minute, so the server
 * keeps them a little longer than that, and says so in the `Keep-Alive` header.
 */
const KEEP_ALIVE_MS = 65_000;
const LOOP_ROUTE = "/__taskwire/loop";
const LOOPBACK = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);

/**
 * For `npm run bench` only (TASKWIRE_LOOP_MONITOR=1): how long the event loop was held since
 * the last reset, as `GET /__taskwire/loop[?reset=1]` from loopback. Off by default. (Node
 * skips the first interval after a reset: a block that starts within 5 ms of it is missed.)
 */
function loopDelayRoute() {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  // Garbage collection pauses hold the loop too: the longest since the reset, to tell them apart.
  let gcMax = 0;
  let gcTotal = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMax = Math.max(gcMax, e.duration);
      gcTotal += e.duration;
    }
  });
  gc.observe({ entryTypes: ["gc"] });
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  const route = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname !== LOOP_ROUTE || !LOOPBACK.has(req.socket.remoteAddress ?? "")) return false;
    const m = process.memoryUsage();
    const memory = { rss_bytes: m.rss, heap_used_bytes: m.heapUsed, heap_total_bytes: m.heapTotal, external_bytes: m.external };
    const gcMs = { gc_max_ms: Math.round(gcMax * 100) / 100, gc_total_ms: Math.round(gcTotal) };
    const body = { max_ms: ms(h.max), p50_ms: ms(h.percentile(50)), p99_ms: ms(h.percentile(99)), mean_ms: ms(h.mean), samples: h.count, ...gcMs, ...memory };
    if (url.searchParams.get("reset") === "1") {
      h.reset();
      gcMax = gcTotal = 0;
    }
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(body));
    return true;
  };
  return Object.assign(route, {
    stop: () => {
      h.disable();
      gc.disconnect();
    },
  });
}

// Run directly: `node dist/server.mjs` (compiled, scripts/build-server.ts) or `node --import tsx server.ts`.
const isMain = !!process.argv[1] && (import.meta.url === pathToFileURL(process.argv[1]).href || process.argv[1].endsWith("/server.ts"));
if (isMain) {
  // Output whose reader is gone (whatever started the server and read its log has died) fails
  // every write with EPIPE. Left unhandled, that error reaches Next.js's handler for uncaught
  // exceptions, which logs it to the same output, which fails again: a loop that holds a core
  // for as long as the process lives. A Unix process ends on SIGPIPE; this one closes as on
  // SIGTERM, and exits 1.
  let stop: (code: number) => void = (code) => process.exit(code);
  for (const output of [process.stdout, process.stderr]) output.on("error", () => stop(1));
  startServer()
    .then((s) => {
      console.log(`Taskwire listening on ${s.url}`);
      let stopping = false;
      stop = (code) => {
        // The signal can arrive twice (npm and the process group): close once, completely.
        if (stopping) return;
        stopping = true;
        // Set first, so the code holds however the process ends.
        process.exitCode = code;
        void s.close().then(() => process.exit(code));
      };
      process.on("SIGINT", () => stop(0));
      process.on("SIGTERM", () => stop(0));
    })
    .catch((err: unknown) => {
      console.error(`Taskwire failed to start: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}
