// The server when things go wrong around it, against the real production server: an outage
// does not fail work the agents did meanwhile; a database fault while an agent connects
// closes that connection instead of leaving it half set up, and never takes the process
// down; `npm start` stops on SIGTERM; a damaged database or secret file stops start-up with
// its name; a backup taken while the server runs is whole; a demo seeding killed part way
// is seeded afresh on the next run.
import Database from "better-sqlite3";
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { closeDatabase, openSqliteFile } from "../../db/client";
import { issueFanout } from "../../lib/tasks/issue";
import { agentServerFixture, closeAgentsAfterEach, deviceRow, TestAgent, taskRow, waitFor, waitForStatus } from "../support/agents";
import { onPg } from "../support/databases";
import { SERVER_BUNDLE } from "../../scripts/build-server";
import { freePort } from "../../scripts/lib/throwaway-pg";
import { failingWrites, rawRow, rawRun } from "../support/raw";
import { makeDevices, makeOrg } from "../support/factories";

closeAgentsAfterEach();

const dirs: string[] = [];
const children = new Set<ChildProcess>();
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "taskwire-faults-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  // Whatever a failed test left running goes, with its whole process group.
  for (const c of children) killGroup(c, "SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // Already gone.
  }
}

type Run = { child: ChildProcess; output: () => string; exited: Promise<number | null> };

type Env = Record<string, string | undefined>;

/**
 * Starts a command in a process group of its own (so a test can clean up all it started);
 * a variable given as undefined is removed from the inherited environment.
 */
function run(cmd: string, args: string[], env: Env): Run {
  const merged: Env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1", ...env };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  const child = spawn(cmd, args, {
    env: merged as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  children.add(child);
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c));
  child.stderr!.on("data", (c: Buffer) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  void exited.then(() => children.delete(child));
  return { child, output: () => out, exited };
}

/** Runs fn on a read-only connection to a SQLite file, closed right after. */
function readDb<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const serverEnv = (dbFile: string, extra: Env = {}): Env => ({
  NODE_ENV: "production",
  PORT: "0",
  HOST: "127.0.0.1",
  DATABASE_URL: dbFile,
  BETTER_AUTH_SECRET: "a-test-secret-that-is-long-enough-for-auth",
  ...extra,
});

/** Runs the compiled server on a file and resolves with how it ended: listening, or exited with a code. */
async function startOnce(env: Env): Promise<{ listening: boolean; code: number | null; output: string; run: Run }> {
  const r = run(process.execPath, [SERVER_BUNDLE], env);
  const listening = waitFor("the server to listen", () => /listening on http/.test(r.output()), 90_000, 50).then(() => true);
  const outcome = await Promise.race([listening, r.exited.then(() => false)]);
  if (outcome) return { listening: true, code: null, output: r.output(), run: r };
  return { listening: false, code: await r.exited, output: r.output(), run: r };
}

/** A small database file with tasks, closed and whole. */
async function smallDatabase(file: string, tasks = 400) {
  const db = openSqliteFile(file);
  const { org, actor } = await makeOrg(db);
  await makeDevices(db, org.id, tasks, { prefix: "fw" });
  await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } });
  await closeDatabase(db);
}

describe("an outage and the agents' work", () => {
  const ctx = agentServerFixture({ env: { TASKWIRE_CLOCK_MAX_SLEEP_MS: "200" } });

  test("a task whose lease would run out while the server is down is still IN_PROGRESS after restart, and the re-sent result is accepted", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const ping = await ctx.issue(name, "PING", { payload: { host: "1.1.1.1" } });
    const sync = await ctx.issue(name, "SYNC");
    for (const t of [ping, sync]) {
      const d = await agent.nextTask();
      expect(d.msg.code).toBe(t.code);
      d.ack({ accepted: true });
      await waitForStatus(ctx.dbFile, t.code, "IN_PROGRESS");
    }
    // The agent finishes the ping while it cannot reach the server.
    agent.close();

    const before = Date.now();
    await ctx.server.restart(async () => {
      // As if the server had been killed 130 s ago: the ping had 10 s of lease left then,
      // the sync 100 s. Both would be past due at restart without the downtime counted.
      const seen = (await rawRow<{ t: number }>(ctx.dbFile, "select max(seen_at) as t from nodes"))!.t;
      expect(seen).toBeGreaterThan(before - 60_000);
      const died = Date.now() - 130_000;
      await rawRun(ctx.dbFile, "update nodes set seen_at = ?", died);
      await rawRun(ctx.dbFile, "update tasks set lease_expires_at = ? where code = ?", died + 10_000, ping.code);
      await rawRun(ctx.dbFile, "update tasks set lease_expires_at = ? where code = ?", died + 100_000, sync.code);
    });
    const after = Date.now();

    const pingRow = (await taskRow(ctx.dbFile, ping.code))!;
    expect(pingRow.status).toBe("IN_PROGRESS");
    // Held for reconnecting agents: not judged within the first minute.
    expect(pingRow.lease_expires_at!).toBeGreaterThanOrEqual(before + 60_000);
    const syncRow = (await taskRow(ctx.dbFile, sync.code))!;
    expect(syncRow.status).toBe("IN_PROGRESS");
    // Lengthened by the downtime: still 100 s to run, counted from the restart.
    expect(syncRow.lease_expires_at!).toBeGreaterThanOrEqual(before + 100_000 - 1_000);
    expect(syncRow.lease_expires_at!).toBeLessThanOrEqual(after + 100_000 + 1_000);

    const back = await ctx.connect(creds);
    expect(await back.send("result", { code: ping.code, status: "COMPLETED", message: "4 packets received" })).toEqual({ ok: true });
    expect(await taskRow(ctx.dbFile, ping.code)).toMatchObject({ status: "COMPLETED", message: "4 packets received" });
  });
});

describe("database faults while agents connect", () => {
  const ctx = agentServerFixture({ env: { TASKWIRE_CLOCK_MAX_SLEEP_MS: "200" } });
  /** Writes of `online` to `value` for this device fail, as on a full disk, until the returned function is called. */
  const failOnline = (value: boolean, deviceId: string) =>
    failingWrites(ctx.dbFile, "devices", "UPDATE OF online", "database or disk is full", `${value ? "" : "NOT "}NEW.online AND NEW.id = '${deviceId}'`);

  test("a failing connect-time write closes the connection (no zombie); once the fault is gone the agent connects and gets its tasks", async () => {
    const { name, creds } = await ctx.device();
    const fixed = await failOnline(true, creds.device_id);
    try {
      const agent = await TestAgent.connect(ctx.url, { ...creds, version: "1.9.1" });
      expect(await agent.disconnected(10_000)).toBe("io server disconnect");
      expect((await deviceRow(ctx.dbFile, creds.device_id))!.online).toBe(0);
      // The server carries on.
      expect((await ctx.api.get("/agent/server-key")).status).toBe(200);
    } finally {
      await fixed();
    }
    const task = await ctx.issue(name, "SYNC");
    expect(task.status).toBe("PENDING");
    const agent = await ctx.connect(creds);
    const d = await agent.nextTask();
    expect(d.msg.code).toBe(task.code);
    d.ack({ accepted: true });
    await waitForStatus(ctx.dbFile, task.code, "IN_PROGRESS");
  });

  test("a failing write when an agent disconnects is logged, not a crash: the server keeps serving agents", async () => {
    const first = await ctx.device();
    const agent = await ctx.connect(first.creds);
    const fixed = await failOnline(false, first.creds.device_id);
    try {
      agent.close();
      // Give the server's disconnect handling its chance to fail, then check it is still there.
      const other = await ctx.device();
      const again = await ctx.connect(other.creds);
      expect(await again.send("heartbeat", { version: "1.9.1" })).toEqual({ ok: true });
      expect((await ctx.api.get("/agent/server-key")).status).toBe(200);
      const task = await ctx.issue(other.name, "PULL");
      expect((await again.nextTask()).msg.code).toBe(task.code);
    } finally {
      await fixed();
    }
  });

  test("a result the database cannot record is answered `internal` (send again later) and recorded when sent again", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const task = await ctx.issue(name, "BACKUP");
    const d = await agent.nextTask();
    d.ack({ accepted: true });
    await waitForStatus(ctx.dbFile, task.code, "IN_PROGRESS");
    const fixed = await failingWrites(ctx.dbFile, "tasks", "UPDATE OF status", "database or disk is full", `OLD.code = '${task.code}'`);
    try {
      expect(await agent.send("result", { code: task.code, status: "COMPLETED", message: "stored" })).toEqual({ ok: false, error: "internal" });
      expect((await taskRow(ctx.dbFile, task.code))!.status).toBe("IN_PROGRESS");
    } finally {
      await fixed();
    }
    expect(await agent.send("result", { code: task.code, status: "COMPLETED", message: "stored" })).toEqual({ ok: true });
    expect((await taskRow(ctx.dbFile, task.code))!.status).toBe("COMPLETED");
  });
});

describe("PostgreSQL out of reach", () => {
  test("at start: exit 1 with a message naming the URL without its password", async () => {
    const port = await freePort();
    const url = `postgres://taskwire:hunter2-secret@127.0.0.1:${port}/taskwire`;
    const r = await startOnce(serverEnv(url));
    if (r.listening) killGroup(r.run.child, "SIGKILL");
    expect(r.listening, r.output).toBe(false);
    expect(r.code).toBe(1);
    expect(r.output).toContain(`Cannot use PostgreSQL at postgres://taskwire:***@127.0.0.1:${port}/taskwire`);
    expect(r.output).not.toContain("hunter2");
    expect(r.output).not.toMatch(/\n\s+at /);
  });
});

// What only a SQLite file has: its pages, the files beside it, a copy of it.
describe.skipIf(onPg)("start-up and shutdown", () => {
  test("SIGTERM to `npm start` stops the whole process tree: the port is free and the server gone", async () => {
    const dir = scratch();
    const r = run("npm", ["start"], serverEnv(join(dir, "taskwire.db")));
    await waitFor("npm start to listen", () => /listening on http/.test(r.output()), 90_000, 50);
    const port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(r.output())![1]);
    expect(await portOpen(port)).toBe(true);

    process.kill(r.child.pid!, "SIGTERM");
    await waitFor("the port to be free", async () => !(await portOpen(port)), 20_000, 100);
    await r.exited;
    // Nothing of the group is left: no process holds the database either.
    await waitFor("every process of npm start to be gone", () => !groupAlive(r.child.pid!), 20_000, 100);
  });

  test("`npm start` without a build says to build first and exits 1, without a stack trace", async () => {
    // The project's scripts in a folder with nothing built in it.
    const dir = scratch();
    writeFileSync(join(dir, "package.json"), readFileSync("package.json"));
    mkdirSync(join(dir, "scripts"));
    writeFileSync(join(dir, "scripts", "start.sh"), readFileSync("scripts/start.sh"));
    const r = run("npm", ["start", "--prefix", dir], serverEnv(join(dir, "taskwire.db")));
    expect(await r.exited).toBe(1);
    expect(r.output()).toContain("Taskwire is not built (no dist/server.mjs): run npm run build first.");
    expect(r.output()).not.toMatch(/\n\s+at /);
  });

  test("a server whose output's reader is gone closes and exits 1, instead of logging its own write errors in a loop", async () => {
    const dir = scratch();
    const started = await startOnce(serverEnv(join(dir, "taskwire.db")));
    expect(started.listening, started.output).toBe(true);
    const url = /listening on (http:\/\/\S+)/.exec(started.output)![1];
    // What read its log dies: each write from now on fails (EPIPE).
    started.run.child.stdout!.destroy();
    started.run.child.stderr!.destroy();
    // Something to log: Next.js logs a server action it does not know.
    const res = await fetch(`${url}/sign-in`, { method: "POST", headers: { origin: url, "next-action": "0".repeat(42), "content-type": "text/plain" }, body: "[]" });
    expect(res.status).toBeLessThan(500);
    // Before, it logged that error's own write error, which failed again, until killed.
    const ended = await Promise.race([started.run.exited, new Promise((r) => setTimeout(() => r("still running"), 60_000))]);
    expect(ended).toBe(1);
    expect(await portOpen(Number(new URL(url).port))).toBe(false);
  });

  test("a damaged task page makes start-up exit 1, naming the file and what to do", async () => {
    const dir = scratch();
    const file = join(dir, "taskwire.db");
    await smallDatabase(file);
    const { page, size } = readDb(file, (db) => ({
      page: (db.prepare("select pageno from dbstat where name = 'tasks' and pagetype = 'leaf' order by pageno limit 1 offset 2").get() as { pageno: number }).pageno,
      size: db.pragma("page_size", { simple: true }) as number,
    }));
    const fd = openSync(file, "r+");
    writeSync(fd, Buffer.alloc(size - 200, 0xa5), 0, size - 200, (page - 1) * size + 100);
    closeSync(fd);

    const r = await startOnce(serverEnv(file));
    if (r.listening) killGroup(r.run.child, "SIGKILL");
    expect(r.listening, r.output).toBe(false);
    expect(r.code).toBe(1);
    expect(r.output).toContain(file);
    expect(r.output).toMatch(/damaged/);
    expect(r.output).toMatch(/restore the latest backup/);
  });

  test("an empty auth-secret or server key file makes start-up exit 1 naming the file; deleting it as told recovers", async () => {
    for (const name of ["auth-secret", "server-key.pem"]) {
      const dir = scratch();
      const file = join(dir, "taskwire.db");
      writeFileSync(join(dir, name), "");
      // Without a secret in the environment, the file is the secret.
      const env = serverEnv(file, { BETTER_AUTH_SECRET: undefined });
      const bad = await startOnce(env);
      if (bad.listening) killGroup(bad.run.child, "SIGKILL");
      expect(bad.listening, `${name}: ${bad.output}`).toBe(false);
      expect(bad.code).toBe(1);
      expect(bad.output).toContain(join(dir, name));
      expect(bad.output).toMatch(/Delete it/);
      expect(bad.output).not.toMatch(/DECODER/);

      rmSync(join(dir, name));
      const good = await startOnce(env);
      expect(good.listening, good.output).toBe(true);
      killGroup(good.run.child, "SIGTERM");
      await good.run.exited;
      expect(readFileSync(join(dir, name), "utf8").length).toBeGreaterThan(32);
    }
  });

  test("a new data folder, database, -wal and -shm are private to the server's user", async () => {
    const dir = join(scratch(), "fresh", "data");
    const file = join(dir, "taskwire.db");
    const r = await startOnce(serverEnv(file));
    expect(r.listening, r.output).toBe(true);
    try {
      const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
      expect(mode(dir)).toBe("700");
      for (const f of [file, `${file}-wal`, `${file}-shm`, join(dir, "server-key.pem")]) expect(mode(f), f).toBe("600");
    } finally {
      killGroup(r.run.child, "SIGTERM");
      await r.run.exited;
    }
  });
});

describe.skipIf(onPg)("backup of a live database", () => {
  const ctx = agentServerFixture();

  test("npm run backup while the server runs produces a whole, checked file with the same tasks", async () => {
    // The server is busy with an agent while the copy is taken.
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    await ctx.issue(name, "SYNC");
    const count = () => readDb(ctx.dbFile, (db) => (db.prepare("select count(*) as n from tasks").get() as { n: number }).n);
    const tasks = count();
    const dest = join(scratch(), "backups", "taskwire-nightly.db");
    const r = run("npm", ["run", "--silent", "backup", "--", dest], { DATABASE_URL: ctx.dbFile });
    expect(await r.exited, r.output()).toBe(0);
    expect(r.output()).toMatch(new RegExp(`Backed up .* to ${dest.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ${tasks} tasks`));
    const copy = new Database(dest, { readonly: true, fileMustExist: true });
    try {
      expect(copy.pragma("quick_check", { simple: true })).toBe("ok");
      expect((copy.prepare("select count(*) as n from tasks").get() as { n: number }).n).toBe(tasks);
      expect((copy.prepare("select count(*) as n from devices where id = ?").get(creds.device_id) as { n: number }).n).toBe(1);
    } finally {
      copy.close();
    }
    expect(existsSync(`${dest}-wal`)).toBe(false);
    // The server never noticed.
    expect(await agent.send("heartbeat", { version: "1.9.1" })).toEqual({ ok: true });

    // A second run does not overwrite without --force; bad flags are refused with usage.
    const again = run("npm", ["run", "--silent", "backup", "--", dest], { DATABASE_URL: ctx.dbFile });
    expect(await again.exited).toBe(1);
    expect(again.output()).toMatch(/--force/);
    const bad = run("npm", ["run", "--silent", "backup", "--", "--frobnicate"], { DATABASE_URL: ctx.dbFile });
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toMatch(/Usage: npm run backup/);
  });
});

describe.skipIf(onPg)("the demo seed", () => {
  test("given a PostgreSQL URL, it exits 2 before building or seeding, and names the demo that runs on PostgreSQL", async () => {
    const r = run(process.execPath, ["--import", "tsx", "scripts/demo.ts"], { ...serverEnv(join(scratch(), "unused.db")), DATABASE_URL: "postgres://demo:secret@127.0.0.1:1/taskwire" });
    expect(await r.exited, r.output()).toBe(2);
    expect(r.output()).toMatch(/npm run demo runs on a SQLite file .* npm run demo:cluster/);
    expect(r.output()).not.toMatch(/secret|Seeding|Build/);
  });

  test("killed part way through seeding, the next run seeds afresh: both organizations, the agents' state files, agents online", async () => {
    const dir = join(scratch(), "data");
    const target = join(dir, "taskwire.db");
    const env = serverEnv(target, { BETTER_AUTH_SECRET: undefined });

    const first = run(process.execPath, ["--import", "tsx", "scripts/demo.ts"], env);
    // Part way: the admin exists in whichever file the seed writes to, the rest does not yet.
    await waitFor("the seed to have begun", () => existsSync(dir) && readdirSync(dir).some((f) => /\.db(\.seeding)?$/.test(f) && hasAdmin(join(dir, f))), 90_000, 10);
    killGroup(first.child, "SIGKILL");
    await first.exited;

    const second = run(process.execPath, ["--import", "tsx", "scripts/demo.ts"], env);
    try {
      await waitFor("the demo to run", () => /Taskwire demo is running at/.test(second.output()), 120_000, 100);
      expect(second.output()).not.toMatch(/already present/);
      expect(second.output()).not.toMatch(/No simulated agents/);
      const orgs = readDb(target, (db) =>
        db.prepare("select o.slug, count(d.id) as devices from organization o join devices d on d.organization_id = o.id group by o.slug order by o.slug").all(),
      );
      expect(orgs).toEqual([
        { slug: "acme", devices: 255 },
        { slug: "globex", devices: 41 },
      ]);
      for (const slug of ["acme", "globex"]) {
        const state = JSON.parse(readFileSync(join(dir, `agents-${slug}.json`), "utf8")) as { agents: { device_id: string }[] };
        expect(state.agents.length).toBe(slug === "acme" ? 250 : 40);
        expect(readDb(target, (db) => db.prepare("select count(*) as n from devices where id = ?").get(state.agents[0].device_id))).toEqual({ n: 1 });
      }
      await waitFor("simulated agents to connect", () => readDb(target, (db) => (db.prepare("select count(*) as n from devices where online = 1").get() as { n: number }).n > 0), 60_000, 250);
    } finally {
      killGroup(second.child, "SIGTERM");
      await Promise.race([second.exited, new Promise((r) => setTimeout(r, 15_000))]);
      killGroup(second.child, "SIGKILL");
    }

    // A damaged state file stops the next run before its server starts, in one line.
    writeFileSync(join(dir, "agents-globex.json"), '{"agents": "x"');
    const third = run(process.execPath, ["--import", "tsx", "scripts/demo.ts"], env);
    expect(await third.exited, third.output()).toBe(1);
    expect(third.output()).toMatch(/The agents' state file .*agents-globex\.json is damaged: delete the data folder to seed the demo afresh/);
    expect(third.output()).not.toMatch(/Taskwire demo is running|SyntaxError|\n\s+at /);
  });
});

function hasAdmin(file: string): boolean {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return !!db.prepare("select 1 from user where email = 'admin@taskwire.local'").get();
    } finally {
      db.close();
    }
  } catch {
    // Not yet a database with users.
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
