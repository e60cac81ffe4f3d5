// Child processes of a benchmark run: the Taskwire server (the real production one), the
// bare Socket.IO baseline server, and load generators. Each is its own process so that
// what the server's figures measure is the server's own work.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { bundle, SERVER_BUNDLE } from "../../scripts/build-server";

const ROOT = join(import.meta.dirname, "..", "..");
const RAW_BUNDLE = "dist/raw-server.mjs";

/** Resident memory of a process in bytes, from /proc (Linux). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return kb ? Number(kb[1]) * 1024 : NaN;
}

export type Proc = { child: ChildProcess; url: string; pid: number; rss: () => number; stop: () => Promise<void>; output: () => string };

/**
 * Spawns `node <args>` and waits for the line announcing its URL. Both servers run compiled
 * (scripts/build-server.ts), as in production: no TypeScript loader in either.
 */
function spawnNode(args: string[], env: NodeJS.ProcessEnv, ready: RegExp, what: string): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let url = "";
    const keep = (chunk: Buffer) => {
      out += chunk;
      // Keep the tail only: a long run may log a lot.
      if (out.length > 200_000) out = out.slice(-100_000);
    };
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 120 s:\n${out}`)), 120_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      keep(chunk);
      const m = ready.exec(out);
      if (m && !url) {
        url = m[1];
        clearTimeout(timer);
        resolve({
          child,
          url,
          pid: child.pid!,
          rss: () => rssOf(child.pid!),
          output: () => out,
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once("exit", () => done());
              child.kill("SIGTERM");
              setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
            }),
        });
      }
    });
    child.stderr!.on("data", keep);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (!url) reject(new Error(`${what} exited ${code}:\n${out}`));
    });
  });
}

/**
 * The production server on `databaseUrl` (a SQLite file or a PostgreSQL URL: several nodes may
 * share one), with the event-loop monitor on. Port 0 (the default): a free one of its own.
 */
export function startTaskwire(opts: { databaseUrl: string; secret: string; distDir?: string; profileDir?: string; port?: number; env?: Record<string, string> }): Promise<Proc> {
  return spawnNode(
    // --profile: a V8 CPU profile of the server, written when it stops.
    [...(opts.profileDir ? ["--cpu-prof", "--cpu-prof-dir", opts.profileDir] : []), SERVER_BUNDLE],
    {
      ...process.env,
      NODE_ENV: "production",
      PORT: String(opts.port ?? 0),
      HOST: "127.0.0.1",
      DATABASE_URL: opts.databaseUrl,
      BETTER_AUTH_SECRET: opts.secret,
      // Sign-in is rate limited per IP; every benchmark client is 127.0.0.1.
      TASKWIRE_SIGNIN_PER_MINUTE: "10000",
      TASKWIRE_LOOP_MONITOR: "1",
      NEXT_TELEMETRY_DISABLED: "1",
      ...(opts.distDir ? { NEXT_DIST_DIR: opts.distDir } : {}),
      ...opts.env,
    },
    /listening on (http:\/\/\S+)/,
    "the Taskwire server",
  );
}

/** The bare Socket.IO server the socket figures are compared with (bench/raw-server.ts). */
export function startRawServer(): Promise<Proc> {
  bundle("bench/raw-server.ts", RAW_BUNDLE);
  return spawnNode([RAW_BUNDLE], { ...process.env, NODE_ENV: "production" }, /raw server on (http:\/\/\S+)/, "the raw Socket.IO server");
}

export type LoopStats = {
  max_ms: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  samples: number;
  /** The longest garbage-collection pause, and all of them, since the reset. */
  gc_max_ms: number;
  gc_total_ms: number;
  rss_bytes: number;
  heap_used_bytes: number;
  heap_total_bytes: number;
  external_bytes: number;
};

/**
 * A request every 10 ms to the loop monitor (without resetting it) for as long as `until` is
 * pending: the slowest answer, in ms. If the server's loop is held, one of them waits as long.
 */
export async function probeLoop(url: string, until: Promise<unknown>): Promise<number> {
  let done = false;
  until.then(
    () => (done = true),
    () => (done = true),
  );
  let worst = 0;
  while (!done) {
    const t = performance.now();
    await fetch(`${url}/__taskwire/loop`).then((r) => r.arrayBuffer());
    worst = Math.max(worst, performance.now() - t);
    await new Promise((r) => setTimeout(r, 10));
  }
  return worst;
}

/** The server's event-loop delay since the last reset (and resets it when asked). */
export async function loopStats(url: string, reset = false): Promise<LoopStats> {
  const res = await fetch(`${url}/__taskwire/loop${reset ? "?reset=1" : ""}`);
  if (!res.ok) throw new Error(`the loop monitor answered ${res.status}`);
  return (await res.json()) as LoopStats;
}

/**
 * The loop monitors of several nodes read (and reset) together: the longest block of any of
 * them, which node it was (its index), and the longest GC pause and GC time of any.
 */
export async function worstLoop(urls: string[], reset = false): Promise<{ max_ms: number; node: number; gc_max_ms: number; gc_total_ms: number }> {
  const all = await Promise.all(urls.map((u) => loopStats(u, reset)));
  const node = all.reduce((worst, s, i) => (s.max_ms > all[worst].max_ms ? i : worst), 0);
  return { max_ms: all[node].max_ms, node, gc_max_ms: Math.max(...all.map((s) => s.gc_max_ms)), gc_total_ms: Math.max(...all.map((s) => s.gc_total_ms)) };
}
