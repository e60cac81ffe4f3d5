// Three nodes of the real production server on one PostgreSQL database, nginx in front with
// round robin (tests/support/cluster.ts): what an admin and a fleet see must not depend on
// which node they reach. PostgreSQL only: one SQLite file has one node.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fetchServerKey, SimAgent } from "../../lib/agents/sim/sim-agent";
import type { TaskResult } from "../../lib/agents/sim/outbox";
import { NODE_DEAD_MS } from "../../lib/server/liveness";
import { LISTENER_NAME } from "../../lib/server/cluster";
import { LIVE_CATCH_UP } from "../../lib/live/protocol";
import { apiClient, type Issued } from "../support/api";
import { nodeIdIn, startTestCluster, type TestCluster } from "../support/cluster";
import { onPg } from "../support/databases";
import { AgentFleet, closeSocketsAfterEach, GLOBEX_USER, LiveClient, liveSeed, until, type LiveSeed } from "../support/live";
import { rawRow, rawRows, rawRun } from "../support/raw";
import type { Db } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import { createUser } from "../../lib/auth/users";
import { randomCode, sha256 } from "../../lib/crypto";
import type { DemoAgent } from "../../lib/demo/seed";
import { OPEN_STATUSES } from "../../rules/tasks";
import { createDevice } from "../../lib/devices/devices";
import { createApiToken, createOrganization } from "../../lib/orgs/orgs";
import { signIn, type ServerProcess } from "../support/server";

let cluster: TestCluster;
const seed: Partial<LiveSeed> = {};
/** The organization of the widest fan-out: BIG_AGENTS devices with agents, the rest without. */
const BIG_DEVICES = 100_000;
const BIG_AGENTS = 3_000;
const big = { organizationId: "", token: "", agents: [] as DemoAgent[] };
/** Acme's agents whose devices have no open task after the seed: what they are sent is what a test issues. */
const quiet: DemoAgent[] = [];

/** The live seed, plus an organization of BIG_DEVICES enabled devices, BIG_AGENTS of them with agent credentials. */
async function seedAll(db: Db): Promise<void> {
  await liveSeed(seed, { bulkDevices: 900 })(db);
  // The demo leaves a few tasks open on devices of its own choosing; an agent connecting for
  // one of those devices is sent its PENDING ones first. The tests below count what an agent is sent.
  const busy = new Set((await rawRows<{ device_id: string }>(db, "select distinct device_id from tasks where status = any(?)", [...OPEN_STATUSES])).map((r) => r.device_id));
  quiet.push(...seed.agents!.acme.filter((a) => !busy.has(a.device_id)));
  if (quiet.length < 3) throw new Error(`the demo seed left ${quiet.length} Acme agents with no open task; the tests need 3`);
  const owner = await createUser({ db }, { email: "olga@big.test", name: "Olga Big", password: "taskwire" });
  const org = await createOrganization({ db }, { name: "Big Fleet", slug: "big", ownerId: owner.id });
  big.organizationId = org.id;
  await withTransaction({ db }, async (tx) => {
    for (let i = 1; i <= BIG_AGENTS; i++) {
      const token = `dev_${randomCode(40)}`;
      const d = await createDevice({ db: tx }, { organizationId: org.id, name: `big-${String(i).padStart(6, "0")}`, status: "ENABLED", agentVersion: "1.9.1", tokenHash: sha256(token) });
      big.agents.push({ name: d.name, device_id: d.id, device_token: token });
    }
  });
  // The devices no agent runs for, written in one statement: a fixture, not what is tested.
  await rawRun(
    db,
    "insert into devices (id, organization_id, name, status, enrolled_at) select md5(random()::text || g::text), cast(? as text), 'big-' || lpad(g::text, 6, '0'), 'ENABLED', cast(? as bigint) from generate_series(cast(? as int), cast(? as int)) as g",
    org.id,
    Date.now(),
    BIG_AGENTS + 1,
    BIG_DEVICES,
  );
  big.token = (await createApiToken({ db, actor: { organizationId: org.id, userId: owner.id, role: "ADMIN", label: owner.email } }, { name: "big", role: "READ_WRITE" })).secret;
}
const api = apiClient(() => cluster.url);

/** One node's view of itself, from its /metrics: its id, its agents, and its transitions by status. */
async function scrape(node: ServerProcess): Promise<{ id: string; agents: number; reached: Record<string, number> }> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const id = nodeIdIn(text) ?? "";
  const agents = Number(/^taskwire_connected_agents\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? NaN);
  const reached: Record<string, number> = {};
  for (const m of text.matchAll(/^taskwire_task_transitions_total\{([^}]*)\} (\d+)/gm)) reached[/to="([A-Z_]+)"/.exec(m[1])![1]] = Number(m[2]);
  return { id, agents, reached };
}

describe.skipIf(!onPg)("three nodes behind nginx", () => {
  beforeAll(async () => {
    // The dispatcher's sweep is put off for an hour: a task reaches an agent on another node
    // through the hint, or not at all.
    cluster = await startTestCluster({ nodes: 3, seed: seedAll, env: { TASKWIRE_DISPATCH_SWEEP_MS: "3600000" } });
  }, 300_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  closeSocketsAfterEach();

  test("an agent on node C, a browser on node A: each task it is sent turns live there, wherever the API call landed", async () => {
    const [a, , c] = cluster.nodes;
    const cookie = await signIn(cluster.url, "admin@taskwire.local");
    const watcher = await LiveClient.as(a.url, cookie);
    expect(await watcher.watch({ org: true })).toEqual({ ok: true });
    const device = quiet[0];
    const fleet = await AgentFleet.connect(c.url, [device], { workMs: () => 50 });

    // Round robin: three calls through nginx land on each node once.
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const issued = await api.post<Issued>("/tasks", { as: { token: seed.tokens!.acme }, json: { type: "SYNC", targets: { devices: [device.name] } } });
      expect(issued.status, JSON.stringify(issued.body)).toBe(201);
      codes.push(issued.body.tasks[0].code);
    }
    for (const code of codes) await watcher.waitForTask(code, "COMPLETED", { timeoutMs: 30_000 });
    // The agent got each task once, and each result was recorded.
    expect(fleet.results.map((r) => r.code).sort()).toEqual([...codes].sort());
    expect(fleet.results.every((r) => (r.ack as { ok?: boolean }).ok)).toBe(true);

    // A cancel made on node B reaches the browser on node A too.
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await api.post<Issued>("/tasks", { as: { token: seed.tokens!.acme }, json: { type: "SYNC", scheduled_at: later, targets: { devices: [device.name] } } });
    expect(scheduled.status).toBe(201);
    const code = scheduled.body.tasks[0].code;
    const cancelled = await fetch(`${cluster.nodes[1].url}/api/v1/tasks/${code}/cancel`, { method: "PUT", headers: { authorization: `Bearer ${seed.tokens!.acme}` } });
    expect(cancelled.status).toBe(200);
    await watcher.waitForTask(code, "CANCELLED", { timeoutMs: 30_000 });
    fleet.close();
  }, 120_000);

  test("behind the load balancer a browser's write from another site is refused, whatever Host it forwards; from the console's own origin it is taken", async () => {
    // The nodes trust the proxy (TASKWIRE_TRUST_PROXY): the proxy must set X-Forwarded-Host
    // itself, or a client could name any site there and its Origin would pass the check. (A
    // browser adds no such header to another site's request without a preflight, which is
    // not granted; what holds it for every client is the proxy.)
    const cookie = await signIn(cluster.url, "admin@taskwire.local");
    // Issued for an hour ahead, and cancelled at the end: no agent of these tests is sent it.
    const device = quiet[0];
    const json = { type: "SYNC", scheduled_at: new Date(Date.now() + 3_600_000).toISOString(), targets: { devices: [device.name] } };
    const tasksOf = async () => (await rawRows(cluster.databaseUrl, "select 1 from tasks t join devices d on d.id = t.device_id where d.name = ?", device.name)).length;
    const before = await tasksOf();
    const forged = await api.post("/tasks", { as: { cookie }, json, headers: { origin: "http://evil.example", "x-forwarded-host": "evil.example" } });
    expect(forged.status, JSON.stringify(forged.body)).toBe(403);
    expect(forged.body).toMatchObject({ error: { code: "forbidden", message: expect.stringMatching(/^Cross-origin requests/) } });
    expect(await tasksOf()).toBe(before);
    const own = await api.post<Issued>("/tasks", { as: { cookie }, json, headers: { origin: new URL(cluster.url).origin } });
    expect(own.status, JSON.stringify(own.body)).toBe(201);
    expect(await tasksOf()).toBe(before + 1);
    const cancelled = await api.put(`/tasks/${own.body.tasks[0].code}/cancel`, { as: { token: seed.tokens!.acme } });
    expect(cancelled.status).toBe(200);
  }, 60_000);

  test("a fan-out paused through node A holds its task from an agent on node C; Resume through node B sends it there", async () => {
    const [a, b, c] = cluster.nodes;
    const device = quiet[1];
    const auth = { authorization: `Bearer ${seed.tokens!.acme}`, "content-type": "application/json" };
    const post = (node: ServerProcess, path: string, body?: unknown) => fetch(`${node.url}/api/v1${path}`, { method: body === undefined ? "PUT" : "POST", headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });
    const statusOf = async (code: string) => (await rawRow<{ status: string }>(cluster.databaseUrl, "select status from tasks where code = ?", code))!.status;
    const issued = (await (await post(a, "/tasks", { type: "SYNC", targets: { devices: [device.name] } })).json()) as Issued;
    expect((await post(a, `/fanouts/${issued.fanout}/pause`)).status).toBe(200);
    const fleet = await AgentFleet.connect(c.url, [device], { workMs: () => 10 });
    // A task issued after, outside the fan-out, reaches the agent on C and completes: the
    // paused one, older, would have gone first on connect.
    const control = (await (await post(a, "/tasks", { type: "PING", payload: { host: "192.0.2.1" }, targets: { devices: [device.name] } })).json()) as Issued;
    await until("the control task to complete", async () => (await statusOf(control.tasks[0].code)) === "COMPLETED", 30_000, 100);
    expect(await statusOf(issued.tasks[0].code)).toBe("PENDING");
    expect(fleet.results.map((r) => r.code)).toEqual([control.tasks[0].code]);

    expect((await post(b, `/fanouts/${issued.fanout}/resume`)).status).toBe(200);
    await until("the released task to complete on node C's agent", async () => (await statusOf(issued.tasks[0].code)) === "COMPLETED", 30_000, 100);
    fleet.close();
  }, 120_000);

  test("every node's listener cut: a task made through node A meanwhile still reaches its agent on node C, and browsers re-read what they show", async () => {
    const [a, , c] = cluster.nodes;
    const device = quiet[0];
    const fleet = await AgentFleet.connect(c.url, [device], { workMs: () => 10 });
    // Globex: nothing of it changes in this test, so only the lost hints can make its page stale.
    const watcher = await LiveClient.as(a.url, await signIn(cluster.url, GLOBEX_USER));
    expect(await watcher.watch({ org: true })).toEqual({ ok: true });
    let catchUps = 0;
    watcher.socket.on(LIVE_CATCH_UP, () => catchUps++);
    const listener = async (node: ServerProcess) => ((await (await fetch(`${node.url}/readyz`)).json()) as { checks: { listener?: string } }).checks.listener;
    const readBefore = Date.now();

    // A restart of PostgreSQL or a network fault, as the nodes see it: every listener is cut,
    // and cut again as it comes back, until the task below is issued and its hint dropped.
    const cutListeners = () => rawRows(cluster.databaseUrl, "select pg_terminate_backend(pid) from pg_stat_activity where application_name = ? and datname = current_database()", LISTENER_NAME);
    expect(await cutListeners()).toHaveLength(3);
    let cutting = true;
    const keptCut = (async () => {
      while (cutting) {
        await cutListeners();
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let code: string;
    try {
      await until("node A to notice", async () => (await listener(a)) === "lost", 30_000, 50);
      // Node A hands the task to node C with a hint it cannot send: dropped. The sweep that
      // would find it is an hour away here; the nodes' resync once back is what sends it.
      const issued = await fetch(`${a.url}/api/v1/tasks`, {
        method: "POST",
        headers: { authorization: `Bearer ${seed.tokens!.acme}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "SYNC", targets: { devices: [device.name] } }),
      });
      const body = (await issued.json()) as Issued;
      expect(issued.status, JSON.stringify(body)).toBe(201);
      code = body.tasks[0].code;
      // Node A's dispatcher hands it on after the commit: time enough for that, still cut.
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      cutting = false;
      await keptCut;
    }
    await until("the agent on node C to report the task", () => fleet.results.some((r) => r.code === code), 30_000);
    // The browser on node A was told to re-read; a page read before the cut and watching only
    // now is told it is stale.
    await until("the browser on node A to be told to re-read", () => catchUps > 0, 30_000);
    const late = await LiveClient.as(a.url, await signIn(cluster.url, GLOBEX_USER));
    expect(await late.watch({ org: true, since: readBefore })).toEqual({ ok: true, stale: true });
    for (const node of cluster.nodes) await until("every listener to be back", async () => (await listener(node)) === "ok", 30_000);
    fleet.close();
  }, 120_000);

  test("1,000 tasks scheduled for the same second through node A, whose clock then stalls: the others fire each exactly once", async () => {
    const [a, b, c] = cluster.nodes;
    const before = await Promise.all([b, c].map(scrape));
    const at = Math.ceil((Date.now() + 8_000) / 1000) * 1000;
    const codes: string[] = [];
    // Acme's 250 devices, four fan-outs: 1,000 tasks due at `at`, all made through node A.
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`${a.url}/api/v1/tasks`, {
        method: "POST",
        headers: { authorization: `Bearer ${seed.tokens!.acme}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "SYNC", scheduled_at: new Date(at).toISOString(), targets: { all: true } }),
      });
      const body = (await r.json()) as Issued;
      expect(r.status, JSON.stringify(body)).toBe(201);
      codes.push(...body.tasks.map((t) => t.code));
    }
    expect(codes).toHaveLength(1000);
    process.kill(a.pid!, "SIGSTOP");
    try {
      const fired = async () => Number((await rawRow<{ n: number }>(cluster.databaseUrl, "select count(*) as n from tasks where code = any(?) and status <> 'SCHEDULED'", codes))!.n);
      await until("the 1,000 scheduled tasks to fire", async () => (await fired()) === 1000, 60_000, 200);
      const rows = await rawRows<{ status: string; updated_at: number }>(cluster.databaseUrl, "select status, updated_at from tasks where code = any(?)", codes);
      expect(new Set(rows.map((r) => r.status))).toEqual(new Set(["PENDING"]));
      // Not before their time, and not after the longest sleep of a clock no hint woke.
      for (const r of rows) expect(Number(r.updated_at)).toBeGreaterThanOrEqual(at);
      expect(Math.max(...rows.map((r) => Number(r.updated_at))) - at).toBeLessThan(30_000);
      // B and C together moved each task to PENDING exactly once: their counters grew by 1,000.
      const after = await Promise.all([b, c].map(scrape));
      const grew = after.reduce((n, s, i) => n + (s.reached.PENDING ?? 0) - (before[i].reached.PENDING ?? 0), 0);
      expect(grew).toBe(1000);
    } finally {
      process.kill(a.pid!, "SIGCONT");
    }
    // Node A comes back and finds nothing left to fire.
    await until("node A to answer again", () => fetch(`${a.url}/healthz`).then((r) => r.ok, () => false), 30_000);
    const stillScheduled = await rawRow<{ n: number }>(cluster.databaseUrl, "select count(*) as n from tasks where code = any(?) and status = 'SCHEDULED'", codes);
    expect(Number(stillScheduled!.n)).toBe(0);
  }, 180_000);

  test("a schedule made through node A, whose clock then stalls: another node runs its due minute once, on time, and the task reaches an agent on node C", async () => {
    const [a, b, c] = cluster.nodes;
    const device = quiet[2];
    const headers = { authorization: `Bearer ${seed.tokens!.acme}`, "content-type": "application/json" };
    type Detail = { id: number; next_run_at: string; runs: { due_at: string; ran_at: string; outcome: string; fanout: string | null }[] };
    const detail = async () => (await (await fetch(`${b.url}/api/v1/schedules/${id}`, { headers })).json()) as Detail;
    // A due minute at least 10 s ahead: node A has stalled well before it.
    const toNextMinute = 60_000 - (Date.now() % 60_000);
    if (toNextMinute < 10_000) await new Promise((r) => setTimeout(r, toNextMinute + 100));
    const fleet = await AgentFleet.connect(c.url, [device], { workMs: () => 10 });
    const created = await fetch(`${a.url}/api/v1/schedules`, {
      method: "POST",
      headers,
      body: JSON.stringify({ name: "every minute, across nodes", type: "SYNC", cron: "* * * * *", timezone: "UTC", targets: { devices: [device.name] } }),
    });
    const schedule = (await created.json()) as Detail;
    expect(created.status, JSON.stringify(schedule)).toBe(201);
    const id = schedule.id;
    const due = Date.parse(schedule.next_run_at);
    // The other nodes hear of the new schedule through A's hint (sent within a turn or two of
    // A's loop); then A stops, and only their clocks are left.
    await new Promise((r) => setTimeout(r, 1_000));
    process.kill(a.pid!, "SIGSTOP");
    try {
      const run = await until("the due minute's run", async () => (await detail()).runs.find((r) => Date.parse(r.due_at) === due), 90_000, 200);
      expect(run.outcome).toBe("issued");
      // On time: woken by the hint, not by a clock's longest sleep (a minute).
      expect(Date.parse(run.ran_at) - due).toBeLessThan(10_000);
      const [task] = await rawRows<{ code: string }>(cluster.databaseUrl, "select t.code from tasks t join fanouts f on f.id = t.fanout_id where f.code = ?", run.fanout);
      await until("the agent on node C to report the schedule's task", () => fleet.results.some((r) => r.code === task.code), 30_000);
    } finally {
      process.kill(a.pid!, "SIGCONT");
    }
    // Node A comes back to a due minute already claimed: still one run for it.
    await until("node A to answer again", () => fetch(`${a.url}/healthz`).then((r) => r.ok, () => false), 30_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await detail()).runs.filter((r) => Date.parse(r.due_at) === due)).toHaveLength(1);
    expect((await fetch(`${b.url}/api/v1/schedules/${id}`, { method: "DELETE", headers })).status).toBe(200);
    fleet.close();
  }, 180_000);

  test("SIGKILL a node holding 300 agents: they reconnect through the others; no acknowledged result is lost or applied twice; devices go offline, then online", async () => {
    const creds = seed.agents!.bulk;
    expect(creds).toHaveLength(900);
    const publicKey = await fetchServerKey(cluster.url);
    const recorded = new Map<string, TaskResult>();
    const recordedTwice: string[] = [];
    const start = (c: (typeof creds)[number], lastSeq?: number) => {
      const agent = new SimAgent({
        url: cluster.url,
        name: c.name,
        deviceId: c.device_id,
        deviceToken: c.device_token,
        publicKey,
        lastSeq,
        // PING takes 0.8–1.2 s of work; at this speed 4–6 s, so many results are in flight at the kill.
        speed: 0.2,
        heartbeatSeconds: 3600,
        onEvent: (e) => {
          if (e.kind !== "result-settled" || e.settlement.outcome !== "recorded") return;
          if (recorded.has(e.result.code)) recordedTwice.push(e.result.code);
          recorded.set(e.result.code, e.result);
        },
      });
      agent.start();
      return agent;
    };
    const agents = new Map<string, SimAgent>();
    for (let i = 0; i < creds.length; i += 100) {
      for (const c of creds.slice(i, i + 100)) agents.set(c.device_id, start(c));
      await new Promise((r) => setTimeout(r, 200));
    }
    const bulkOnline = async () =>
      (await rawRows<{ node_id: string; n: number }>(cluster.databaseUrl, "select node_id, count(*) as n from devices where organization_id = ? and online group by node_id", seed.orgs!.bulk)).map((r) => ({ node: r.node_id, n: Number(r.n) }));
    await until("all 900 agents online", async () => (await bulkOnline()).reduce((n, r) => n + r.n, 0) === 900, 120_000, 250);

    // Round robin gave each node about 300: the victim is the node holding the most.
    const views = await Promise.all(cluster.nodes.map(scrape));
    const victimIndex = views.reduce((best, v, i) => (v.agents > views[best].agents ? i : best), 0);
    const victim = cluster.nodes[victimIndex];
    const victimId = views[victimIndex].id;
    const onVictim = new Set(
      (await rawRows<{ id: string }>(cluster.databaseUrl, "select id from devices where organization_id = ? and node_id = ?", seed.orgs!.bulk, victimId)).map((r) => r.id),
    );
    expect(onVictim.size).toBeGreaterThanOrEqual(250);

    const issued = await api.post<Issued>("/tasks", { as: { token: seed.tokens!.bulk }, json: { type: "PING", payload: { host: "192.0.2.1" }, targets: { all: true } } });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const fanout = issued.body.fanout;
    const codes = new Set(issued.body.tasks.map((t) => t.code));
    const deviceOf = new Map(issued.body.tasks.map((t) => [t.code, creds.find((c) => c.name === t.device)!.device_id]));

    // The kill comes once 60 of the victim's agents have had their results recorded, while the
    // rest are still at work.
    const victimRecorded = () => [...recorded.keys()].filter((code) => codes.has(code) && onVictim.has(deviceOf.get(code)!));
    await until("60 results recorded through the victim", () => victimRecorded().length >= 60, 60_000, 20);
    await victim.kill("SIGKILL");
    // 50 of the victim's agents whose work is done lose power with it: the survivors must mark
    // their devices offline. The rest reconnect through nginx to the other nodes.
    const away = victimRecorded().slice(0, 50).map((code) => deviceOf.get(code)!);
    const awaySeq = new Map(away.map((id) => [id, agents.get(id)!.lastSeq]));
    for (const id of away) agents.get(id)!.stop();

    // Every task of the fan-out ends COMPLETED, once.
    const final = async () => Number((await rawRow<{ n: number }>(cluster.databaseUrl, "select count(*) as n from tasks where fanout_id = (select id from fanouts where code = ?) and status = 'COMPLETED'", fanout))!.n);
    await until("every task of the fan-out to complete", async () => (await final()) === 900, 180_000, 500);
    // What an agent saw acknowledged is in the database, as it sent it.
    const rows = await rawRows<{ code: string; status: string; message: string | null }>(cluster.databaseUrl, "select code, status, message from tasks where code = any(?)", [...codes]);
    const byCode = new Map(rows.map((r) => [r.code, r]));
    for (const [code, result] of recorded) if (codes.has(code)) expect(byCode.get(code), code).toMatchObject({ status: result.status, message: result.message });
    expect(recordedTwice).toEqual([]);
    // The bookkeeping matches: nothing was counted twice.
    const f = await rawRow<{ total: number; open: number }>(cluster.databaseUrl, "select total, open_tasks as open from fanouts where code = ?", fanout);
    expect({ total: Number(f!.total), open: Number(f!.open) }).toEqual({ total: 900, open: 0 });
    const counted = await rawRows<{ status: string; n: number }>(cluster.databaseUrl, "select status, sum(n) as n from task_counts where organization_id = ? group by status", seed.orgs!.bulk);
    expect(Object.fromEntries(counted.filter((r) => Number(r.n) > 0).map((r) => [r.status, Number(r.n)]))).toEqual({ COMPLETED: 900 });

    // The agents that lost power: offline once the survivors find the victim dead, …
    const awayState = async () => rawRows<{ online: boolean | number; node_id: string | null }>(cluster.databaseUrl, "select online, node_id from devices where id = any(?)", away);
    await until("the agents that stayed away to be offline", async () => (await awayState()).every((d) => !d.online && d.node_id === null), NODE_DEAD_MS * 4, 500);
    // … and online through a survivor when they come back.
    for (const id of away) agents.set(id, start(creds.find((c) => c.device_id === id)!, awaySeq.get(id)));
    await until("the agents that came back to be online", async () => (await awayState()).every((d) => !!d.online && d.node_id !== null && d.node_id !== victimId), 60_000, 250);
    const everywhere = await bulkOnline();
    expect(everywhere.reduce((n, r) => n + r.n, 0)).toBe(900);
    expect(everywhere.map((r) => r.node)).not.toContain(victimId);
    for (const agent of agents.values()) agent.stop();
    await victim.restart();
    await cluster.routedToAll();
  }, 600_000);
  test("a 100,000-device fan-out with agents spread over the nodes: every task final, the bookkeeping matching, a few hints per thousand tasks", async () => {
    await cluster.routedToAll();
    const fleet = await AgentFleet.connect(cluster.url, big.agents, { workMs: (i) => (i % 10) * 100 });
    // A connection is answered first and its device marked online in the node's next batch.
    const online = () => rawRows<{ node_id: string; n: number }>(cluster.databaseUrl, "select node_id, count(*) as n from devices where organization_id = ? and online group by node_id", big.organizationId);
    await until(`all ${BIG_AGENTS} agents online`, async () => (await online()).reduce((n, r) => n + Number(r.n), 0) === BIG_AGENTS, 60_000, 250);
    const spread = await online();
    expect(spread.reduce((n, r) => n + Number(r.n), 0)).toBe(BIG_AGENTS);
    expect(spread).toHaveLength(3);
    const notifies = async () => (await Promise.all(cluster.nodes.map(async (n) => Number(/^taskwire_cluster_notifies_total\{[^}]*\} (\d+)/m.exec(await (await fetch(`${n.url}/metrics`)).text())?.[1] ?? NaN)))).reduce((a, b) => a + b, 0);
    const notifiesBefore = await notifies();

    // The tasks of devices with no agent expire after the shortest time to live; the clocks of
    // all three nodes share the work.
    const issued = await api.post<Issued>("/tasks", { as: { token: big.token }, json: { type: "PING", payload: { host: "192.0.2.1" }, targets: { all: true }, ttl_seconds: 60 } });
    expect(issued.status, JSON.stringify(issued.body).slice(0, 500)).toBe(201);
    expect(issued.body.total).toBe(BIG_DEVICES);
    const fanout = issued.body.fanout;
    const byStatus = async () =>
      Object.fromEntries(
        (await rawRows<{ status: string; n: number }>(cluster.databaseUrl, "select status, count(*) as n from tasks where fanout_id = (select id from fanouts where code = ?) group by status", fanout)).map((r) => [r.status, Number(r.n)]),
      );
    await until("the agents' tasks to complete", async () => (await byStatus()).COMPLETED === BIG_AGENTS, 240_000, 1_000);
    await until("every task of the fan-out to be final", async () => (await byStatus()).EXPIRED === BIG_DEVICES - BIG_AGENTS, 300_000, 1_000);
    expect(await byStatus()).toEqual({ COMPLETED: BIG_AGENTS, EXPIRED: BIG_DEVICES - BIG_AGENTS });
    expect(fleet.results.filter((r) => !(r.ack as { ok?: boolean }).ok)).toEqual([]);

    // The bookkeeping the triggers keep agrees with the tasks themselves.
    const f = await rawRow<{ total: number; open: number }>(cluster.databaseUrl, "select total, open_tasks as open from fanouts where code = ?", fanout);
    expect({ total: Number(f!.total), open: Number(f!.open) }).toEqual({ total: BIG_DEVICES, open: 0 });
    const drift = await rawRow<{ n: number }>(
      cluster.databaseUrl,
      `select count(*) as n from (select organization_id, type, status, count(*) as n from tasks group by 1, 2, 3) t
       full outer join task_counts c using (organization_id, type, status) where coalesce(t.n, 0) <> coalesce(c.n, 0)`,
    );
    expect(Number(drift!.n)).toBe(0);

    // About 200,000 transitions, and the hints between nodes for all of them: batched, never one per task.
    const hints = (await notifies()) - notifiesBefore;
    console.log(`[cluster] 100,000-task fan-out over 3 nodes: ${hints} NOTIFY payloads between nodes`);
    expect(hints).toBeLessThan(BIG_DEVICES / 50);
    fleet.close();
  }, 900_000);
});
