import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clearDb, closeDatabase, openDatabase, setDb, type Db } from "../../db/client";
import { schedules } from "../../db/schema";
import { withTransaction } from "../../db/transaction";
import { seedDemo } from "../../lib/demo/seed";
import { SERVER_BUNDLE } from "../../scripts/build-server";
import { newTestDatabase } from "./databases";

export type TestServer = {
  url: string;
  /** The server's DATABASE_URL: a SQLite file, or a PostgreSQL database of its own. */
  dbFile: string;
  dir: string;
  stop: () => Promise<void>;
  /** Stops and starts the server on the same port; `whileStopped` runs in between (e.g. to edit the file as a crash would leave it). */
  restart: (whileStopped?: () => void | Promise<void>) => Promise<void>;
  /** Sends the server a signal and waits for it to exit (SIGKILL: a crash); `restart` starts it again. */
  kill: (signal: NodeJS.Signals) => Promise<void>;
};

/** A server process the tests started: its URL (settled once it listens), and how to stop, kill or restart it. */
export type ServerProcess = {
  readonly url: string;
  /** The process's id while it runs. */
  readonly pid: number | undefined;
  stop: () => Promise<void>;
  restart: (whileStopped?: () => void | Promise<void>) => Promise<void>;
  kill: (signal: NodeJS.Signals) => Promise<void>;
};

/**
 * The demo data for a test server, its nightly backup disabled: at 02:00 in Berlin it would
 * issue a fan-out into Acme in the middle of whatever test runs then, and change what it counts.
 */
export async function seedTestDemo(db: Db): ReturnType<typeof seedDemo> {
  const seeded = await seedDemo({ db });
  await withTransaction({ db }, async (tx) => {
    await tx.update(schedules).set({ enabled: false, nextRunAt: null });
  });
  return seeded;
}

/** A fresh database (SQLite file or PostgreSQL database), seeded with the test demo data (seedTestDemo) unless told otherwise. */
export async function seededDatabase(seed?: (db: Db) => Promise<void> | void): Promise<{ url: string; drop: () => Promise<void> }> {
  const target = await newTestDatabase();
  process.env.BETTER_AUTH_SECRET = randomBytes(32).toString("base64url");
  process.env.DATABASE_URL = target.url;
  delete (globalThis as Record<symbol, unknown>)[Symbol.for("taskwire.auth")];
  const db = await openDatabase(target.url);
  setDb(db);
  await (seed ?? ((d: Db) => seedTestDemo(d).then(() => undefined)))(db);
  await closeDatabase(db);
  // The auth instance holds the database it was created with: forget both.
  clearDb();
  delete (globalThis as Record<symbol, unknown>)[Symbol.for("taskwire.auth")];
  return target;
}

/** Starts the real production server on `databaseUrl` in a child process, on a free port unless `env.PORT` says. */
export async function spawnServer(databaseUrl: string, extraEnv: Record<string, string> = {}): Promise<ServerProcess> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: databaseUrl,
    NEXT_TELEMETRY_DISABLED: "1",
    ...extraEnv,
  };
  let child: ChildProcess;
  let url = "";
  const boot = () =>
    new Promise<void>((resolve, reject) => {
      child = spawn(process.execPath, [SERVER_BUNDLE], { env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m && !url) {
          url = m[1];
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr!.on("data", (chunk: Buffer) => {
        out += chunk;
        // TASKWIRE_TEST_SERVER_LOG=1: the server's errors alongside the test's output, to debug a run.
        if (process.env.TASKWIRE_TEST_SERVER_LOG) process.stderr.write(chunk);
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        if (!url) reject(new Error(`server exited ${code}:\n${out}`));
      });
    });
  // Stops the process running now: a later boot() replaces `child`, and a SIGKILL timer of
  // this stop must never reach the new one.
  const stopChild = (signal: NodeJS.Signals = "SIGTERM") =>
    new Promise<void>((resolve) => {
      const stopping = child;
      if (!stopping || stopping.exitCode !== null || stopping.signalCode !== null) return resolve();
      const force = setTimeout(() => stopping.kill("SIGKILL"), 5_000);
      stopping.once("exit", () => {
        clearTimeout(force);
        resolve();
      });
      stopping.kill(signal);
    });
  await boot();
  return {
    get url() {
      return url;
    },
    get pid() {
      return child.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    restart: async (whileStopped) => {
      await stopChild();
      await whileStopped?.();
      env.PORT = new URL(url).port;
      url = "";
      await boot();
    },
    kill: (signal) => stopChild(signal),
    stop: () => stopChild(),
  };
}

/**
 * Seeds a fresh database (the demo data unless told otherwise) and starts the real
 * production server on it in a child process, on a free port.
 */
export async function startTestServer(opts: { seed?: (db: Db) => Promise<void> | void; env?: Record<string, string> } = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "taskwire-srv-"));
  const target = await seededDatabase(opts.seed);
  const server = await spawnServer(target.url, { BETTER_AUTH_SECRET: process.env.BETTER_AUTH_SECRET!, ...opts.env });
  return {
    get url() {
      return server.url;
    },
    dbFile: target.url,
    dir,
    restart: server.restart,
    kill: server.kill,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
      await target.drop();
    },
  };
}

/** Signs in through better-auth's HTTP endpoint and returns the session cookie header. */
export async function signIn(url: string, email: string, password = "taskwire"): Promise<string> {
  const res = await fetch(`${url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ email, password }),
  });
  if (!res.ok) throw new Error(`sign-in of ${email} failed: ${res.status} ${await res.text()}`);
  const cookies = res.headers.getSetCookie().map((c) => c.split(";")[0]);
  return cookies.join("; ");
}
