// A fan-out is all or nothing even when the process dies in the middle of writing it: the
// real production server is SIGKILLed at five moments of a 10,000-task fan-out, restarted
// on the same file, and holds either the whole fan-out or no trace of it — tasks, fan-out
// row and bookkeeping alike.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { closeDatabase, openDatabase } from "../../db/client";
import { createApiToken } from "../../lib/orgs/orgs";
import { makeDevices, makeOrg } from "../support/factories";

const DEVICES = 10_000;
const dir = mkdtempSync(join(tmpdir(), "taskwire-crash-"));
const file = join(dir, "taskwire.db");
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

type Server = { url: string; child: ChildProcess; exited: Promise<unknown> };

/** The production server on the file; resolves once it listens (as long as start-up takes). */
function boot(): Promise<Server> {
  const child = spawn(process.execPath, ["--import", "tsx", "server.ts"], {
    env: { ...process.env, NODE_ENV: "production", PORT: "0", HOST: "127.0.0.1", DATABASE_URL: file, BETTER_AUTH_SECRET: secret, NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], child, exited });
    });
    child.stderr!.on("data", (c: Buffer) => (out += c));
    child.once("exit", (code) => reject(new Error(`server exited ${code} before listening:\n${out}`)));
  });
}

const secret = randomBytes(32).toString("base64url");
let token = "";

/** What the file holds: fan-outs with their tasks, and whether the bookkeeping matches them. */
function census() {
  const db = openDatabase(file);
  try {
    const one = (text: string) => (db.$client.prepare(text).get() as { n: number }).n;
    const rows = db.$client
      .prepare("select f.id, f.total, f.open_tasks as open, (select count(*) from tasks t where t.fanout_id = f.id) as tasks from fanouts f order by f.id")
      .all() as { id: number; total: number; open: number; tasks: number }[];
    const taskRows = one("select count(*) as n from tasks");
    const counted = one("select coalesce(sum(n), 0) as n from task_counts");
    const pending = one("select count(*) as n from tasks where status = 'PENDING'");
    return { fanouts: rows, taskRows, counted, pending };
  } finally {
    closeDatabase(db);
  }
}

test(
  "SIGKILL at five moments of a 10,000-task fan-out: after a restart, the whole fan-out or no trace of it",
  async () => {
    const db = openDatabase(file);
    const { org, actor } = await makeOrg(db, { slug: "crash" });
    await makeDevices(db, org.id, DEVICES, { prefix: "crash" });
    token = (await createApiToken({ db, actor }, { name: "crash test", role: "READ_WRITE" })).secret;
    closeDatabase(db);

    const post = (url: string) =>
      fetch(`${url}/api/v1/tasks`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "PING", payload: { host: "192.0.2.1" }, targets: { all: true } }),
      });

    // How long one fan-out takes here, now: the kills are spread over it.
    const first = await boot();
    const started = performance.now();
    const reply = await post(first.url);
    const took = performance.now() - started;
    expect(reply.status).toBe(201);
    first.child.kill("SIGTERM");
    await first.exited;

    const outcomes: string[] = [];
    for (const fraction of [0.1, 0.3, 0.5, 0.7, 0.9]) {
      const before = census();
      const server = await boot();
      const pending = post(server.url).catch(() => null);
      await new Promise((r) => setTimeout(r, took * fraction));
      server.child.kill("SIGKILL");
      await server.exited;
      await pending;

      const after = census();
      const whole = after.fanouts.length === before.fanouts.length + 1;
      if (!whole) expect(after.fanouts, `killed at ${fraction} of ${Math.round(took)} ms`).toEqual(before.fanouts);
      // Every fan-out on the file is whole: all its tasks, and its count of open ones.
      for (const f of after.fanouts) expect({ tasks: f.tasks, open: f.open }).toEqual({ tasks: DEVICES, open: DEVICES });
      expect(after.taskRows).toBe(after.fanouts.length * DEVICES);
      expect(after.counted).toBe(after.taskRows);
      expect(after.pending).toBe(after.taskRows);
      outcomes.push(`${fraction}: ${whole ? "whole" : "none"}`);
    }
    console.log(`fan-out of ${DEVICES} took ${Math.round(took)} ms; killed at ${outcomes.join(", ")}`);
  },
  10 * 60_000,
);
