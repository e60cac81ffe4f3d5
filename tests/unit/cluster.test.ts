// lib/server/cluster.ts against a real PostgreSQL: two members of a cluster on one database
// hear each other's batched hints over LISTEN/NOTIFY, none carries more than NOTIFY's limit,
// and many transitions cost a handful of payloads, not one each. PostgreSQL only.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer, connect as tcpConnect, type AddressInfo } from "node:net";
import pg from "pg";
import { publish, subscribe, type TaskTransition } from "../../lib/events";
import { joinCluster, LISTENER_NAME, type Cluster } from "../../lib/server/cluster";
import { metrics } from "../../lib/server/metrics";
import { LEASE_MINUTES } from "../../rules/tasks";
import { until } from "../support/live";
import { newTestDatabase, onPg, type TestDatabase } from "../support/databases";

const transition = (taskId: number, organizationId = "org-1", fanoutId: number | null = 7): TaskTransition => ({
  kind: "task.transition",
  organizationId,
  taskId,
  code: `T${taskId}`,
  deviceId: `d${taskId}`,
  fanoutId,
  type: "SYNC",
  from: "PENDING",
  to: "IN_PROGRESS",
  at: Date.now(),
});

describe.skipIf(!onPg)("cluster hints", () => {
  let database: TestDatabase;
  let a: Cluster;
  let b: Cluster;
  beforeAll(async () => {
    database = await newTestDatabase();
    a = await joinCluster(database.url, "node-a");
    b = await joinCluster(database.url, "node-b");
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await database?.drop();
  });

  test("tasks handed to a node reach that node only, in one payload", async () => {
    const heardByB: number[] = [];
    const heardByA: number[] = [];
    b.on("send", (ids) => heardByB.push(...ids));
    a.on("send", (ids) => heardByA.push(...ids));
    a.send("node-b", [1, 2, 3]);
    a.send("node-c", [4]);
    await until("node B to hear its tasks", () => heardByB.length === 3, 10_000);
    expect(heardByB).toEqual([1, 2, 3]);
    expect(heardByA).toEqual([]);
  });

  test("10,000 transitions become a few payloads under NOTIFY's limit; the others hear every task and fan-out once, and the soonest any of them may fall due", async () => {
    const heard = new Map<string, { tasks: Set<number>; fanouts: Set<number> }>();
    const dueHeard: number[] = [];
    b.on("live", (org, tasks, fanouts) => {
      const entry = heard.get(org) ?? heard.set(org, { tasks: new Set(), fanouts: new Set() }).get(org)!;
      for (const t of tasks) entry.tasks.add(t);
      for (const f of fanouts) entry.fanouts.add(f);
    });
    b.on("due", (soonestMs) => dueHeard.push(soonestMs));
    const sent = async () => (await metrics().clusterNotifies.get()).values[0]?.value ?? 0;
    const before = await sent();
    // Both members live in this process and hear its events: each gathers them. What B hears
    // is A's hints (B ignores its own).
    publish(Array.from({ length: 10_000 }, (_, i) => transition(i + 1, i % 2 ? "org-1" : "org-2", i % 2 ? 7 : 8)));
    const tasksHeard = () => (heard.get("org-1")?.tasks.size ?? 0) + (heard.get("org-2")?.tasks.size ?? 0);
    await until("node B to hear every task", () => tasksHeard() === 10_000, 20_000);
    expect([...heard.get("org-1")!.fanouts]).toEqual([7]);
    expect([...heard.get("org-2")!.fanouts]).toEqual([8]);
    // A start begins a lease: the other clocks are told once, not per task, how soon it may
    // run out (each wakes only if that is before it wakes anyway: lib/tasks/due.ts).
    await until("node B to hear how soon", () => dueHeard.length > 0, 20_000);
    expect(dueHeard).toEqual([LEASE_MINUTES.SYNC * 60_000]);
    // A task created scheduled may be due at once: told once for both.
    publish([10_001, 10_002].map((id) => ({ ...transition(id), from: null, to: "SCHEDULED" as const })));
    await until("node B to hear the scheduled tasks", () => tasksHeard() === 10_002 && dueHeard.length > 1, 20_000);
    expect(dueHeard).toEqual([LEASE_MINUTES.SYNC * 60_000, 0]);
    // Two members sent the same hints: 10,000 ids at 400 a part and ~19 parts a payload. A
    // member counts a payload once its NOTIFY returns, which can be after B heard it: wait for
    // the count to be above 0 and to hold still across a probe.
    let last = -1;
    const payloads = await until("the payloads sent to be counted", async () => {
      const now = (await sent()) - before;
      const settled = now > 0 && now === last;
      last = now;
      return settled ? now : undefined;
    }, 20_000, 250);
    expect(payloads).toBeLessThanOrEqual(2 * 10);
  });

  test("an audit row written here is published on the other nodes", async () => {
    const seen: string[] = [];
    const off = subscribe((e) => {
      if (e.kind === "audit.recorded") seen.push(e.organizationId);
    });
    try {
      // Both members of this process send it (gathered with the live hints): each publishes
      // the other's copy here once.
      publish([{ kind: "audit.recorded", organizationId: "org-audit" }]);
      await until("the other members' copies to be published", () => seen.length === 3, 10_000);
      await new Promise((r) => setTimeout(r, 500));
      expect(seen).toEqual(["org-audit", "org-audit", "org-audit"]);
    } finally {
      off();
    }
  });

  test("a device or access change another node sends is published here; what does not parse is ignored", async () => {
    const seen: string[] = [];
    const off = subscribe((e) => {
      if (e.kind === "access.changed") seen.push(e.sessionId ?? "");
    });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const notify = (payload: string) => client.query("select pg_notify('taskwire', $1)", [payload]);
      await notify("not json");
      await notify(JSON.stringify({ from: "node-x", parts: [{ k: "event", e: { kind: "access.changed", sessionId: 5 } }] }));
      await notify(JSON.stringify({ from: "node-x", parts: [{ k: "event", e: { kind: "access.changed", sessionId: "s-1" } }] }));
      // Each member of this process hears it and publishes it here once.
      await until("the change to be published", () => seen.length === 2, 10_000);
      // Neither member sends it on: it is not published again.
      await new Promise((r) => setTimeout(r, 500));
      expect(seen).toEqual(["s-1", "s-1"]);
    } finally {
      off();
      await client.end();
    }
  });

  test("a listener whose connection is cut says so, connects again, and hears hints again", async () => {
    expect(a.alive()).toBe(true);
    expect(b.alive()).toBe(true);
    // Whose hints were lost, as node B hears it: its own listener's (undefined), node A's.
    const lost: (string | undefined)[] = [];
    b.on("resync", (from) => lost.push(from));
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      // Both members' listeners are cut, as a restart of PostgreSQL or a network fault would.
      const cut = await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and datname = current_database()", [LISTENER_NAME]);
      expect(cut.rowCount).toBe(2);
    } finally {
      await admin.end();
    }
    await until("the listeners to notice", () => !a.alive() && !b.alive(), 10_000);
    await until("the listeners to connect again", () => a.alive() && b.alive(), 30_000);
    // What was sent while it was away was not heard: the node is told to look for itself.
    // (Node A's hint that its own were dropped may come too, or be missed while B was away.)
    await until("node B to be told", () => lost.includes(undefined), 10_000);
    expect(lost.every((from) => from === undefined || from === "node-a")).toBe(true);
    const heard: number[] = [];
    b.on("send", (ids) => heard.push(...ids));
    a.send("node-b", [42]);
    await until("node B to hear node A again", () => heard.includes(42), 10_000);
  });

  test("a listener whose connection goes silent (a balancer dropped the flow without a word) notices at its probe, connects again, and hears hints again", async () => {
    // A TCP relay to PostgreSQL whose connections can be made to drop every byte both ways,
    // still open: no error, no end, as a flow a middlebox forgot.
    const target = new URL(database.url);
    const links = new Set<{ silent: boolean }>();
    const relay = createServer((inbound) => {
      const link = { silent: false };
      links.add(link);
      const out = tcpConnect(Number(target.port), target.hostname);
      inbound.on("data", (d) => void (link.silent || out.write(d)));
      out.on("data", (d) => void (link.silent || inbound.write(d)));
      const close = () => {
        links.delete(link);
        inbound.destroy();
        out.destroy();
      };
      for (const end of [inbound, out]) end.on("error", close).on("close", close);
    });
    await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
    const via = new URL(database.url);
    via.host = `127.0.0.1:${(relay.address() as AddressInfo).port}`;
    const c = await joinCluster(via.toString(), "node-c", { probeMs: 200, queryTimeoutMs: 1_000 });
    const lostByA: (string | undefined)[] = [];
    a.on("resync", (from) => lostByA.push(from));
    try {
      expect(c.alive()).toBe(true);
      for (const link of links) link.silent = true;
      await until("the listener to notice", () => !c.alive(), 30_000);
      await until("the listener to connect again", () => c.alive(), 30_000);
      // What node C sent meanwhile was dropped: node A, whose own listener held, is told so.
      await until("node A to be told by node C", () => lostByA.includes("node-c"), 10_000);
      const heard: number[] = [];
      c.on("send", (ids) => heard.push(...ids));
      a.send("node-c", [7]);
      await until("node C to hear node A again", () => heard.includes(7), 10_000);
    } finally {
      await c.stop();
      relay.close();
      for (const link of links) link.silent = false;
    }
  });
});
