// npm run bench:once [-- --quick] [--out <file.json>] [--only runner,lists,cockpit,fanout,clock,dispatch,throughput,connections,many,restart,schedules,purge] [--keep] [--profile <dir>] [--pg [--nodes N]]
//
// Starts the real production server on temporary databases, drives it with real clients
// from load processes of their own, and prints one table — figure, value, baseline, ratio,
// goal — next to floors measured in the same run on the same machine: raw better-sqlite3
// (or raw node-postgres), a bare Socket.IO server, a near-empty Next.js answer. Writes the
// same as JSON. With --pg the server runs on a throwaway PostgreSQL holding the same data;
// with --nodes N, N servers share that database and the cross-node figures are added.
// Not a test: nothing in `npm test` depends on it. See docs/performance.md.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { ensureBuild } from "../scripts/ensure-build";
import { DEMO_PASSWORD, DEMO_USERS } from "../lib/demo/seed";
import { FULL, QUICK, type Sizes } from "./config";
import { addHistory, buildBase, copyBase, describe, type BaseData } from "./lib/data";
import { rows as readRows, withConn, type Target } from "./lib/db";
import { signIn } from "./lib/http";
import { LoadProcess } from "./lib/load-client";
import { countersOf } from "./lib/metrics";
import { startBenchPg, type BenchPg } from "./lib/pg";
import { loopStats, startRawServer, startTaskwire, worstLoop, type Proc } from "./lib/procs";
import { row, table, writeJson, type Row } from "./lib/report";
import { median, now, sleep } from "./lib/stats";
import { measureDispatch, measureThroughput, measureWaveOpening, type ThroughputFigures } from "./scenarios/agents";
import { measureClockBatch, type ClockFigures } from "./scenarios/clock";
import { measureRunner, type RunnerFigures } from "./scenarios/runner";
import { measureConnections, type ConnectionFigures } from "./scenarios/connections";
import { measureFanout, RAW_FANOUT, type FanoutFigures } from "./scenarios/fanout";
import { measureRestart, type RestartFigures } from "./scenarios/restart";
import { measureLists } from "./scenarios/lists";
import { measurePurge, measureScheduleBurst } from "./scenarios/retention";
import { measureCockpit } from "./scenarios/cockpit";

const SCENARIOS = ["runner", "lists", "cockpit", "fanout", "clock", "dispatch", "throughput", "connections", "many", "restart", "schedules", "purge"] as const;
type Scenario = (typeof SCENARIOS)[number];
/**
 * What one node alone measures, left out with several nodes: the lists compare two databases
 * each behind a server of its own, the runner is SQLite's queue in this process, and the
 * connections, many agents and restart figures are one node's limits.
 */
const ONE_NODE_ONLY: readonly Scenario[] = ["lists", "cockpit", "runner", "connections", "many", "restart", "purge"];
const MAX_NODES = 6;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

/** The command line, checked: a bad flag or value stops here with a message, exit 2. */
function parseFlags() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: "boolean", default: false },
        out: { type: "string" },
        // For working on one figure: the others are skipped (and their rows left out).
        only: { type: "string" },
        keep: { type: "boolean", default: false },
        profile: { type: "string" },
        // The same scenarios on a throwaway PostgreSQL; with --nodes, that many servers on it.
        pg: { type: "boolean", default: false },
        nodes: { type: "string", default: "1" },
      },
      strict: true,
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  const nodes = z.coerce.number().int().min(1).max(MAX_NODES).safeParse(values.nodes);
  if (!nodes.success) fail(`--nodes takes a whole number from 1 to ${MAX_NODES}; got ${values.nodes}`);
  if (nodes.data > 1 && !values.pg) fail("--nodes needs --pg: several nodes share one PostgreSQL database");
  const only = values.only?.split(",").map((s) => s.trim());
  for (const o of only ?? []) if (!(SCENARIOS as readonly string[]).includes(o)) fail(`--only takes ${SCENARIOS.join(", ")}; got ${o}`);
  return { ...values, nodes: nodes.data, only: only as Scenario[] | undefined };
}

const args = parseFlags();
const sizes: Sizes = args.quick ? QUICK : FULL;
const nodes = args.nodes;
const dialect = args.pg ? "pg" : "sqlite";
const asked = (s: Scenario) => !args.only || args.only.includes(s);
const want = (s: Scenario) => asked(s) && !(nodes > 1 && ONE_NODE_ONLY.includes(s));
/** What the titles add to "full" or "quick": nothing on SQLite, as before. */
const variant = args.pg ? `, PostgreSQL${nodes > 1 ? `, ${nodes} nodes` : ""}` : "";
/** Nodes are named A, B, C… in the order they start; A serves the browsers and the POSTs. */
const nodeName = (i: number) => String.fromCharCode(65 + i);
const startedAt = new Date();
const t0 = now();
const log = (line: string) => console.log(`[${((now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const MB = 1024 * 1024;
const k = (n: number) => (n >= 1_000_000 ? `${Math.round(n / 100_000) / 10}M` : n >= 1000 ? `${Math.round(n / 100) / 10}k` : String(n));

function build(distDir: string) {
  // `next build` adds its folder's generated types to tsconfig.json; the benchmark's folder is
  // its own, so the file is put back as it was.
  const tsconfig = readFileSync("tsconfig.json", "utf8");
  try {
    // Other work on this machine may build at the same time: take the shared build lock when
    // flock is there (it is on Linux), else build directly.
    process.env.NEXT_DIST_DIR = distDir;
    const hasFlock = spawnSync("flock", ["--version"], { stdio: "ignore" }).status === 0;
    if (!hasFlock) return ensureBuild(distDir);
    const res = spawnSync("flock", ["/tmp/taskwire-build.lock", process.execPath, "--import", "tsx", "scripts/ensure-build.ts"], { stdio: "inherit", env: process.env });
    if (res.status !== 0) throw new Error("the build failed");
  } finally {
    if (distDir !== ".next" && readFileSync("tsconfig.json", "utf8") !== tsconfig) writeFileSync("tsconfig.json", tsconfig);
  }
}

const machine = () => ({
  cores: cpus().length,
  cpu: cpus()[0]?.model,
  memoryGB: Math.round(totalmem() / 1024 ** 3),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
});

/**
 * The most agents one process can hold here: every connection is a file descriptor, and the
 * server process may open no more than the hard limit (Node raises its soft limit to that).
 */
function agentsTheLimitAllows(wanted: number): { agents: number; limit: number } {
  const out = spawnSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).stdout.trim();
  const limit = out === "unlimited" ? Infinity : Number(out);
  if (!Number.isFinite(limit)) return { agents: wanted, limit };
  // A thousand descriptors to spare for the database, logs and the server's own sockets.
  return { agents: Math.min(wanted, Math.floor((limit - 1_000) / 1_000) * 1_000), limit };
}

async function main() {
  const distDir = process.env.NEXT_DIST_DIR || ".next-bench";
  const m0 = machine();
  log(`Taskwire benchmark (${sizes.name}${variant}) on ${m0.cores} cores (${m0.cpu}), Node ${m0.node}, load average ${m0.loadavg.join(" ")}`);
  log(
    `sizes: ${k(sizes.devices)} devices, lists at ${k(sizes.smallTasks)} and ${k(sizes.largeTasks)} tasks × ${sizes.listSamples} requests, fan-out median of ${sizes.fanoutRuns}` +
      `${sizes.wideDevices ? ` and one of ${k(sizes.wideDevices)}` : ""}, ` +
      `${sizes.agents} agents (${sizes.dispatchSamples} dispatches, ${k(sizes.throughputTasks)} tasks), ${sizes.liveClients} live clients, ${k(sizes.connections)} connections`,
  );
  build(distDir);

  const dir = mkdtempSync(join(tmpdir(), "taskwire-bench-"));
  const secret = randomBytes(32).toString("base64url");
  const procs: { stop: () => Promise<void> }[] = [];
  const memory: { phase: string; rss: number; heapUsed?: number; heapTotal?: number }[] = [];
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  let benchPg: BenchPg | undefined;
  try {
    if (nodes > 1) {
      const left = ONE_NODE_ONLY.filter(asked);
      if (left.length) log(`with ${nodes} nodes, left out (one node's figures): ${left.join(", ")}`);
    }
    // First, so that a machine without PostgreSQL stops the run before the data is built.
    if (args.pg) benchPg = await startBenchPg(log);
    // ---------------------------------------------------------------- the transaction runner
    // In this process, before any server starts: nothing else shares the loop it measures.
    // It is SQLite's own write queue (db/transaction.ts): queued transactions against
    // synchronous better-sqlite3 ones, and reads on their own connection while the bulk
    // writer thread writes a fan-out. PostgreSQL has no such queue (each transaction takes a
    // pooled connection and reads never wait for writers), so on --pg there is nothing
    // equivalent to measure: the row says so instead.
    if (want("runner") && args.pg) {
      rows.push(notMeasured("runner: a queued write transaction, and a read during a fan-out", "the runner is SQLite's write queue"));
    } else if (want("runner")) {
      log(`transaction runner: trivial writes, and reads during a fan-out to ${k(sizes.devices)} devices`);
      const runner: RunnerFigures = await measureRunner({ devices: sizes.devices, fillerTasks: sizes.smallTasks * 30, log });
      raw.runner = runner;
      rows.push(row({ figure: "runner: a queued write transaction", value: runner.asyncTxUs, unit: "µs", baseline: runner.syncTxUs, baselineOf: "synchronous better-sqlite3 transaction", met: null }));
      rows.push(row({ figure: `runner: a read while a ${k(runner.devices)}-task fan-out is written, longest wait`, value: runner.readDuringFanout.max, unit: "ms", baseline: runner.readIdle.max, baselineOf: "idle", goal: "≤ 50 ms", met: runner.readDuringFanout.max <= 50, detail: { p50: runner.readDuringFanout.p50, reads: runner.readDuringFanout.n, fanoutMs: runner.fanoutMs } }));
    }
    // ---------------------------------------------------------------- the databases
    const t = now();
    const baseFile = join(dir, "base.db");
    const agentsNeeded = Math.max(sizes.agents, sizes.connections);
    const many = agentsTheLimitAllows(sizes.manyAgents);
    const base: BaseData = await buildBase(baseFile, {
      secret,
      devices: sizes.devices,
      agents: sizes.agents,
      wideDevices: want("fanout") ? sizes.wideDevices : 0,
      manyDevices: want("many") ? many.agents : 0,
    });
    const credsFile = join(dir, "agents.json");
    writeFileSync(credsFile, JSON.stringify(base.devices.slice(0, agentsNeeded)));
    const manyCredsFile = join(dir, "many.json");
    writeFileSync(manyCredsFile, JSON.stringify(base.many));
    const files = { small: join(dir, "small", "taskwire.db"), large: join(dir, "large", "taskwire.db") };
    for (const [which, count] of [["small", sizes.smallTasks], ["large", sizes.largeTasks]] as const) {
      mkdirSync(join(dir, which));
      copyBase(baseFile, files[which]);
      addHistory(files[which], base, count, { agents: sizes.agents, cockpit: which === "large" && want("cockpit") ? sizes.cockpitTasks : 0 });
    }
    // What the servers run on: the files, or on --pg a PostgreSQL database holding each.
    const targets: Record<keyof typeof files, Target> = { ...files };
    if (benchPg) {
      log("copying the databases into PostgreSQL");
      for (const which of ["small", "large"] as const) targets[which] = await benchPg.copyOf(files[which], `taskwire_${which}`);
      await benchPg.settle();
    }
    const dbInfo = { small: await describe(targets.small), large: await describe(targets.large) };
    log(`databases built in ${((now() - t) / 1000).toFixed(1)} s: ${dbInfo.large.tasks.toLocaleString("en-US")} tasks, ${Math.round(dbInfo.large.bytes / MB)} MB (large); ${dbInfo.small.tasks.toLocaleString("en-US")} (small)`);
    raw.databases = dbInfo;

    const boot = async (database: Target, port?: number, env?: Record<string, string>): Promise<Proc> => {
      const p = await startTaskwire({ databaseUrl: database, secret, distDir, profileDir: args.profile, port, env });
      procs.push(p);
      return p;
    };
    const tasksLabel = `${k(dbInfo.small.tasks)}→${k(dbInfo.large.tasks)}`;

    // ---------------------------------------------------------------- lists, small and large
    // Both servers run at once and the requests alternate between them (see measureLists).
    let server = await boot(targets.large);
    // Nodes B, C…: the same database, each on a free port of its own, started one after the
    // other (the first has written the shared secrets by then).
    const others: Proc[] = [];
    for (let i = 1; i < nodes; i++) others.push(await boot(targets.large));
    const cluster = () => [server, ...others];
    const urls = () => cluster().map((p) => p.url);
    if (nodes > 1) log(`${nodes} nodes on one database: ${cluster().map((p, i) => `${nodeName(i)} ${p.url}`).join(", ")}`);
    // The server's resident memory, and its V8 heap (how much of the growth is garbage not yet collected).
    const remember = async (phase: string, rss = server.rss()) => {
      const s = await loopStats(server.url);
      memory.push({ phase, rss, heapUsed: s.heap_used_bytes, heapTotal: s.heap_total_bytes });
    };
    await sleep(1_000);
    await remember("idle");
    // The server's longest event-loop block over `work` (with several nodes, the longest of
    // any): the monitors are reset before and read after.
    const loopBlock = async <T>(work: () => Promise<T>): Promise<{ result: T; maxMs: number }> => {
      await worstLoop(urls(), true);
      // Node does not record the first interval after a reset: let one pass before the work.
      await sleep(50);
      const result = await work();
      const loop = await worstLoop(urls(), true);
      log(`  longest loop block ${loop.max_ms} ms${nodes > 1 ? ` (node ${nodeName(loop.node)})` : ""}, longest GC pause ${loop.gc_max_ms} ms (${loop.gc_total_ms} ms of GC in all)`);
      return { result, maxMs: loop.max_ms };
    };
    // The floor of every loop-block figure: the same monitor over a second of nothing.
    const idleLoopMax = (await loopBlock(() => sleep(1_000))).maxMs;
    const cookie = await signIn(server.url, DEMO_USERS.admin, DEMO_PASSWORD);
    if (want("lists")) {
      log(`list at ${k(dbInfo.small.tasks)} and ${k(dbInfo.large.tasks)} tasks, ${sizes.listSamples} requests per variant`);
      const smallServer = await boot(targets.small);
      const smallCookie = await signIn(smallServer.url, DEMO_USERS.admin, DEMO_PASSWORD);
      const [small, large] = await measureLists({
        targets: [
          { url: smallServer.url, database: targets.small, cookie: smallCookie },
          { url: server.url, database: targets.large, cookie },
        ],
        organizationId: base.organizationId,
        adminId: base.adminId,
        token: base.apiToken,
        samples: sizes.listSamples,
        side: benchPg?.side,
        log,
      });
      await smallServer.stop();
      await remember("after the lists");
      raw.lists = { small, large };
      for (const [name, v] of Object.entries(large.variants)) {
        rows.push(row({ figure: `list page: ${name}, p95`, value: v.page.p95, unit: "ms", baseline: large.emptyPage.p95 + v.sqlPage.p95, baselineOf: "empty page + SQL", goal: "≤ 100 ms", met: v.page.p95 <= 100, detail: { p50: v.page.p50, sqlP50: v.sqlPage.p50, emptyPageP50: large.emptyPage.p50, rows: v.rows } }));
      }
      for (const [name, v] of Object.entries(large.variants)) {
        const s = small.variants[name];
        if (!s) continue;
        rows.push(row({ figure: `list page: ${name}, p50 at ${tasksLabel}`, value: v.page.p50, unit: "ms", baseline: s.page.p50, baselineOf: `at ${k(dbInfo.small.tasks)}`, goal: "≤ 1.5×", met: v.page.p50 / s.page.p50 <= 1.5 }));
      }
      for (const [name, v] of Object.entries(large.variants)) {
        rows.push(row({ figure: `API list: ${name}, p95`, value: v.api.p95, unit: "ms", baseline: large.emptyApi.p95 + v.sqlApi.p95, baselineOf: "empty route + SQL", goal: "≤ 50 ms", met: v.api.p95 <= 50, detail: { p50: v.api.p50, sqlP50: v.sqlApi.p50 } }));
      }
    }

    // ---------------------------------------------------------------- the fan-out cockpit
    if (want("cockpit")) {
      log(`fan-out cockpit at a ${k(sizes.cockpitTasks)}-task fan-out, ${sizes.listSamples} requests each`);
      const c = await measureCockpit({ url: server.url, database: targets.large, organizationId: base.organizationId, cookie, token: base.apiToken, samples: sizes.listSamples, loopBlock, rss: () => server.rss(), log });
      await remember("after the cockpit");
      raw.cockpit = c;
      rows.push(row({ figure: `cockpit: fan-out page at ${k(c.tasks)} tasks, p95`, value: c.page.p95, unit: "ms", baseline: c.emptyPage.p95, baselineOf: "empty page", goal: "≤ 150 ms", met: c.page.p95 <= 150, detail: { p50: c.page.p50 } }));
      rows.push(row({ figure: `cockpit: GET /api/v1/fanouts/{code} at ${k(c.tasks)} tasks, p95`, value: c.api.p95, unit: "ms", baseline: c.emptyPage.p95, baselineOf: "empty page", goal: "≤ 150 ms", met: c.api.p95 <= 150, detail: { p50: c.api.p50 } }));
      rows.push(row({ figure: `cockpit: GET /api/v1/fanouts/{code} at ${k(c.tasks)} tasks, right after one of its tasks was cancelled, p95`, value: c.afterChange.p95, unit: "ms", baseline: c.api.p95, baselineOf: "unchanged", goal: "≤ 150 ms", met: c.afterChange.p95 <= 150, detail: { p50: c.afterChange.p50, samples: c.afterChange.n } }));
      rows.push(row({ figure: `cockpit: GET /api/v1/fanouts/{code} at ${k(c.tasks)} tasks, the first look (nothing kept yet)`, value: c.firstMs, unit: "ms", baseline: c.api.p50, baselineOf: "kept, p50", met: null }));
      rows.push(row({ figure: `cockpit: the first look at ${k(c.tasks)} tasks, longest event-loop block`, value: c.firstLoopMs, unit: "ms", baseline: idleLoopMax, baselineOf: "idle", goal: "≤ 50 ms", met: c.firstLoopMs <= 50 }));
      rows.push(row({ figure: "cockpit: fan-out list page, p95", value: c.list.p95, unit: "ms", baseline: c.emptyPage.p95, baselineOf: "empty page", goal: "≤ 100 ms", met: c.list.p95 <= 100, detail: { p50: c.list.p50 } }));
      rows.push(row({ figure: `cockpit: CSV export of ${k(c.export.rows)} rows, longest event-loop block`, value: c.export.loopMaxMs, unit: "ms", baseline: idleLoopMax, baselineOf: "idle", goal: "≤ 50 ms", met: c.export.loopMaxMs <= 50, detail: { ms: c.export.ms, bytes: c.export.bytes } }));
      rows.push(row({ figure: `cockpit: CSV export of ${k(c.export.rows)} rows, server heap in use, peak`, value: c.export.heapPeakMB, unit: "MB", baseline: c.export.heapBeforeMB, baselineOf: "before the export", goal: "constant: ≤ +64 MB", met: c.export.heapPeakMB - c.export.heapBeforeMB <= 64, detail: { ms: c.export.ms, rssBeforeMB: c.export.rssBeforeMB, rssPeakMB: c.export.rssPeakMB } }));
    }

    // ---------------------------------------------------------------- fan-out
    if (want("fanout")) {
      log(`fan-out to ${k(sizes.devices)} devices`);
      const fanout: FanoutFigures = await measureFanout({ url: server.url, database: targets.large, organizationId: base.organizationId, adminId: base.adminId, token: base.apiToken, runs: sizes.fanoutRuns, loopUrls: urls(), log });
      await remember("after the fan-outs");
      raw.fanout = fanout;
      const fo = { post: median(fanout.post), raw: median(fanout.raw) };
      rows.push(row({ figure: `fan-out of ${k(fanout.devices)} tasks, median POST`, value: fo.post, unit: "ms", baseline: fo.raw, baselineOf: RAW_FANOUT[dialect], goal: "≤ 3× and ≤ 300 ms", met: fo.post <= 300 && fo.post / fo.raw <= 3, detail: { runs: fanout.post, rawRuns: fanout.raw, responseBytes: fanout.responseBytes } }));
      rows.push(row({ figure: "fan-out: longest event-loop block", value: Math.max(...fanout.loopMax), unit: "ms", baseline: fanout.idleLoopMax, baselineOf: "idle", goal: "≤ 50 ms", met: Math.max(...fanout.loopMax) <= 50, detail: { runs: fanout.loopMax, slowestProbe: fanout.probeMax } }));

      if (base.wide) {
        // One POST to every device of the wide organization; its tasks wait for agents that never
        // connect, and are cancelled after.
        log(`fan-out to ${k(base.wide.devices)} devices (a second organization)`);
        const wide: FanoutFigures = await measureFanout({
          url: server.url,
          database: targets.large,
          organizationId: base.wide.organizationId,
          adminId: base.adminId,
          token: base.wide.apiToken,
          runs: 1,
          settleMs: 3_000,
          loopUrls: urls(),
          log,
        });
        await remember(`after the ${k(wide.devices)} fan-out`);
        raw.wideFanout = wide;
        const wideLoop = Math.max(...wide.loopMax);
        rows.push(row({ figure: `fan-out of ${k(wide.devices)} tasks, POST`, value: wide.post[0], unit: "ms", baseline: wide.raw[0], baselineOf: RAW_FANOUT[dialect], met: null, detail: { responseBytes: wide.responseBytes } }));
        rows.push(row({ figure: `fan-out of ${k(wide.devices)}: longest event-loop block`, value: wideLoop, unit: "ms", baseline: wide.idleLoopMax, baselineOf: "idle", goal: "≤ 50 ms", met: wideLoop <= 50, detail: { slowestProbe: wide.probeMax } }));
      }
    }

    // ---------------------------------------------------------------- clock batch
    if (want("clock")) {
      log(`clock batch: ${k(sizes.devices)} scheduled tasks falling due at once`);
      const clock: ClockFigures = await measureClockBatch({ url: server.url, database: targets.large, token: base.apiToken, loopUrls: urls(), log });
      raw.clock = clock;
      rows.push(row({ figure: `clock batch (${k(clock.tasks)} due at once): longest event-loop block`, value: clock.loopMax, unit: "ms", baseline: idleLoopMax, baselineOf: "idle", goal: "≤ 50 ms", met: clock.loopMax <= 50, detail: { fireMs: clock.fireMs, slowestProbe: clock.probeMax } }));
    }

    // ---------------------------------------------------------------- dispatch
    const api = (path: string, body: unknown, url = server.url) =>
      fetch(`${url}/api/v1${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${base.apiToken}` }, body: JSON.stringify(body) });
    let rawServer: Proc | undefined;
    if (want("dispatch") || want("throughput") || want("connections") || want("many")) {
      rawServer = await startRawServer();
      procs.push(rawServer);
    }
    if (want("dispatch") || want("throughput")) {
      const rawLoad = await LoadProcess.start("raw-agents");
      procs.push(rawLoad);
      const load = await LoadProcess.start("agents");
      procs.push(load);
      const agentRange = { credsFile, from: 0, to: sizes.agents, answer: true };
      const rc = await rawLoad.connectAgents({ url: rawServer!.url, ...agentRange });
      // Taskwire's agents: all on the one node; with several, a share on each (A, B, C…).
      const shares = spread(sizes.agents, nodes);
      let tc = { connected: 0 };
      for (const [i, share] of shares.entries()) tc = await load.connectAgents({ url: cluster()[i].url, ...agentRange, ...share });
      if (tc.connected !== sizes.agents || rc.connected !== sizes.agents) throw new Error(`agents connected: ${tc.connected} to Taskwire, ${rc.connected} to the raw server, of ${sizes.agents}`);
      // The last node's agents: with several nodes, tasks reach them from POSTs to node A.
      const far = shares[shares.length - 1];
      const farName = nodeName(nodes - 1);
      await sleep(1_000);

      if (want("dispatch")) {
        const farAgents = far.to - far.from;
        const label = nodes > 1 ? `cross-node dispatch latency (${farAgents} agents on node ${farName}, POSTs to node A)` : `dispatch latency (${sizes.agents} agents)`;
        log(nodes > 1 ? `cross-node dispatch latency: ${farAgents} agents on node ${farName}, tasks POSTed to node A` : `dispatch latency, ${sizes.agents} agents connected`);
        const rawDispatch = await measureDispatch(
          rawLoad,
          async (i) => ((await (await fetch(`${rawServer!.url}/emit?device=${base.devices[i].device_id}`, { method: "POST" })).json()) as { code: string }).code,
          { samples: sizes.dispatchSamples, agents: sizes.agents },
        );
        const { result: dispatch, maxMs: dispatchLoop } = await loopBlock(() =>
          measureDispatch(
            load,
            async (i) => {
              const res = await api("/tasks", { type: "PING", payload: { host: "1.1.1.1", count: 4 }, targets: { devices: [base.devices[far.from + i].name] } });
              if (res.status !== 201) throw new Error(`creating a task answered ${res.status}: ${await res.text()}`);
              return ((await res.json()) as { tasks: { code: string }[] }).tasks[0].code;
            },
            { samples: sizes.dispatchSamples, agents: farAgents },
          ),
        );
        log(`  Taskwire p50 ${dispatch.latency.p50.toFixed(1)} ms p99 ${dispatch.latency.p99.toFixed(1)} ms (POST alone p50 ${dispatch.create.p50.toFixed(1)}); raw Socket.IO p50 ${rawDispatch.latency.p50.toFixed(1)} p99 ${rawDispatch.latency.p99.toFixed(1)}`);
        await remember(`after dispatch (${sizes.agents} agents connected)`);
        raw.dispatch = { taskwire: dispatch, raw: rawDispatch };
        rows.push(row({ figure: `${label}, p50`, value: dispatch.latency.p50, unit: "ms", baseline: rawDispatch.latency.p50, baselineOf: "raw Socket.IO", goal: "≤ 3× raw", met: dispatch.latency.p50 <= 3 * rawDispatch.latency.p50, detail: { postP50: dispatch.create.p50 } }));
        rows.push(row({ figure: `${label}, p99`, value: dispatch.latency.p99, unit: "ms", baseline: rawDispatch.latency.p99, baselineOf: "raw Socket.IO", goal: "≤ 100 ms", met: dispatch.latency.p99 <= 100 }));
        rows.push(row({ figure: `dispatch burst (${dispatch.samples.length} dispatches): longest event-loop block`, value: dispatchLoop, unit: "ms", baseline: idleLoopMax, baselineOf: "idle", goal: "≤ 50 ms", met: dispatchLoop <= 50 }));

        // A staged rollout's wave opening (Continue → the wave's task at its agent), beside the
        // immediate fan-out's dispatch just measured on the same agents.
        log(`wave opening: ${sizes.dispatchSamples} two-device rollouts, Continue → the second wave's task at its agent`);
        const call = async (method: string, path: string, body?: unknown) => {
          const res = await fetch(`${server.url}/api/v1${path}`, { method, headers: { "content-type": "application/json", authorization: `Bearer ${base.apiToken}` }, body: body === undefined ? undefined : JSON.stringify(body) });
          if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${await res.text()}`);
          return res.json() as Promise<Record<string, unknown>>;
        };
        const opening = await measureWaveOpening(
          load,
          {
            issue: async (i) => {
              const names = [base.devices[far.from + i].name, base.devices[far.from + i + 1].name];
              const issued = (await call("POST", "/tasks", { type: "PING", payload: { host: "1.1.1.1", count: 4 }, targets: { devices: names }, rollout: { canary: 1, waves: "rest", between_waves: "continue" } })) as {
                fanout: string;
                tasks: { code: string; status: string }[];
              };
              return { fanout: issued.fanout, second: issued.tasks.find((t) => t.status === "SCHEDULED")!.code };
            },
            waiting: async (fanout) => ((await call("GET", `/fanouts/${fanout}`)) as { rollout: { state: string } }).rollout.state === "awaiting_continue",
            cont: async (fanout) => void (await call("PUT", `/fanouts/${fanout}/continue`)),
          },
          { samples: sizes.dispatchSamples, agents: farAgents },
        );
        log(`  wave opening p50 ${opening.latency.p50.toFixed(1)} ms p99 ${opening.latency.p99.toFixed(1)} ms; immediate dispatch p50 ${dispatch.latency.p50.toFixed(1)} ms`);
        raw.waveOpening = opening;
        rows.push(
          row({
            figure: `wave opening (Continue → the wave's task at its agent), p50`,
            value: opening.latency.p50,
            unit: "ms",
            baseline: dispatch.latency.p50,
            baselineOf: "immediate fan-out's dispatch (POST → agent)",
            goal: "≤ 1.25× immediate",
            met: opening.latency.p50 <= 1.25 * dispatch.latency.p50,
          }),
        );
      }

      if (want("throughput")) {
        const live = await LoadProcess.start("live");
        procs.push(live);
        const perAgent = Math.max(1, Math.round(sizes.throughputTasks / sizes.agents));
        const expected = perAgent * sizes.agents;
        const onNodes = nodes > 1 ? `agents on ${nodes} nodes` : "";
        log(`throughput: ${k(expected)} tasks (${perAgent} fan-outs of ${sizes.agents}), ${sizes.liveClients} live clients watching${nodes > 1 ? ` node A; ${onNodes}, fan-outs POSTed to each in turn` : ""}`);
        await live.connectLive({ url: rawServer!.url, n: sizes.liveClients });
        const rawThroughput: ThroughputFigures = await measureThroughput(
          rawLoad,
          async () => {
            const res = await fetch(`${rawServer!.url}/fanout?per=${perAgent}`, { method: "POST" });
            if (res.status !== 201) throw new Error(`raw fan-out answered ${res.status}`);
          },
          { expected, live, log },
        );
        await live.closeLive();
        await rawLoad.closeAgents();
        const lc = await live.connectLive({ url: server.url, n: sizes.liveClients, cookie });
        if (lc.connected !== sizes.liveClients) throw new Error(`live clients connected: ${lc.connected}/${sizes.liveClients}: ${lc.failures.join(", ")}`);
        const fanoutCodes: string[] = [];
        // The node each fan-out is POSTed to: node A alone, else each node in turn.
        let posted = 0;
        const nextNode = () => cluster()[posted++ % nodes].url;
        const postFanout = async (): Promise<{ code: string; ms: number }> => {
          const t = now();
          const res = await api("/tasks", { type: "SYNC", targets: { ous: [base.agentsOu] } }, nextNode());
          if (res.status !== 201) throw new Error(`a fan-out answered ${res.status}: ${await res.text()}`);
          const code = ((await res.json()) as { fanout: string }).fanout;
          return { code, ms: now() - t };
        };
        // The same POST at rest, each once the previous one's results are all in and the server
        // has settled: right after them, the checkpoint of their log and their live rows still
        // ran beside the POST. The first is not counted: the server's first fan-out of this
        // size took 1.1–1.8 times as long as the next, in eight runs of this scenario alone.
        const postAtRest: number[] = [];
        for (let i = 0; i < 4; i++) {
          await load.resetAgents();
          await sleep(1_000);
          const { ms } = await postFanout();
          if (i > 0) postAtRest.push(ms);
          for (const until = now() + 60_000; (await load.agentReport()).acked < sizes.agents && now() < until; ) await sleep(100);
        }
        await sleep(1_000);
        const postInStorm: number[] = [];
        // With several nodes: the results reported on the last node, whose live latency to the
        // browsers on node A is reported apart (their devices' tasks, read back by code).
        const farDevices = new Set(base.devices.slice(far.from, far.to).map((d) => d.device_id));
        const farResults = async (acks: [string, number][]) => {
          const onFar = new Set((await tasksOf(targets.large, fanoutCodes)).filter((t) => farDevices.has(t.device_id)).map((t) => t.code));
          return acks.filter(([code]) => onFar.has(code));
        };
        const notifiesBefore = nodes > 1 ? await countersOf(urls(), NOTIFIES) : [];
        const { result: throughput, maxMs: resultsLoop } = await loopBlock(() =>
          measureThroughput(
            load,
            async () => {
              for (let i = 0; i < perAgent; i++) {
                const { code, ms } = await postFanout();
                fanoutCodes.push(code);
                // The first POST meets no storm yet.
                if (i > 0) postInStorm.push(ms);
              }
            },
            { expected, live, log, ...(nodes > 1 ? { liveOf: farResults } : {}) },
          ),
        );
        const notifies = nodes > 1 ? (await countersOf(urls(), NOTIFIES)).map((n, i) => n - notifiesBefore[i]) : [];
        const outcome = await statusesOf(targets.large, fanoutCodes);
        log(
          `  Taskwire ${Math.round(throughput.sustained)}/s sustained, ${Math.round(throughput.endToEnd)}/s end to end (issuing took ${Math.round(throughput.issueMs)} ms), ` +
            `${throughput.acked}/${expected} acknowledged, statuses ${JSON.stringify(outcome)}; raw ${Math.round(rawThroughput.sustained)}/s`,
        );
        log(`  a fan-out of ${sizes.agents} POSTed: median ${median(postAtRest).toFixed(0)} ms at rest, ${median(postInStorm).toFixed(0)} ms during the storm`);
        if (throughput.live) log(`  live p50 ${throughput.live.latency.p50.toFixed(0)} ms p99 ${throughput.live.latency.p99.toFixed(0)} ms, ≤ ${throughput.live.maxPerSecond} messages/s per client, ${throughput.live.truncated} truncated of ${throughput.live.patches}`);
        if (throughput.livePart) log(`  live p50 of the results reported on node ${farName}: ${throughput.livePart.latency.p50.toFixed(0)} ms (p99 ${throughput.livePart.latency.p99.toFixed(0)} ms)`);
        if (nodes > 1) log(`  NOTIFY payloads sent during the run: ${notifies.map((n, i) => `${nodeName(i)} ${n}`).join(", ")}`);
        await remember("after the throughput run");
        raw.throughput = { taskwire: throughput, raw: rawThroughput, outcome, ...(nodes > 1 ? { notifies } : {}) };
        await live.closeLive();
        await live.stop();
        const allFinal = (outcome.COMPLETED ?? 0) === expected && throughput.acked === expected;
        rows.push(row({ figure: `agent throughput (${k(expected)} tasks${onNodes ? `, ${onNodes}` : ""}), sustained`, value: throughput.sustained, unit: "/s", baseline: rawThroughput.sustained, baselineOf: "raw Socket.IO", goal: "≥ 10,000/s", met: throughput.sustained >= 10_000 }));
        rows.push(row({ figure: `agent throughput${onNodes ? ` (${onNodes})` : ""}, first request to last result`, value: throughput.endToEnd, unit: "/s", baseline: rawThroughput.endToEnd, baselineOf: "raw Socket.IO", goal: "≥ 5,000/s", met: throughput.endToEnd >= 5_000, detail: { seconds: throughput.seconds, issueMs: throughput.issueMs } }));
        rows.push(row({ figure: `fan-out of ${sizes.agents} POSTed during the result storm, median`, value: median(postInStorm), unit: "ms", baseline: median(postAtRest), baselineOf: "the same POST at rest", goal: "≤ 2× at rest", met: median(postInStorm) <= 2 * median(postAtRest), detail: { atRest: postAtRest, inStorm: postInStorm } }));
        rows.push(row({ figure: `agent result batches (${k(expected)} tasks): longest event-loop block`, value: resultsLoop, unit: "ms", baseline: idleLoopMax, baselineOf: "idle", goal: "≤ 50 ms", met: resultsLoop <= 50, detail: { issueMs: throughput.issueMs } }));
        rows.push(row({ figure: "agent throughput: tasks final (COMPLETED)", value: outcome.COMPLETED ?? 0, unit: "", baseline: expected, baselineOf: "issued", goal: "all, none lost", met: allFinal, detail: { outcome, errors: throughput.errors, duplicates: throughput.duplicates } }));
        if (throughput.live && rawThroughput.live) {
          const l = throughput.live;
          const r = rawThroughput.live;
          rows.push(row({ figure: `live latency (${l.clients} clients), p50`, value: l.latency.p50, unit: "ms", baseline: r.latency.p50, baselineOf: "raw Socket.IO", goal: "≤ 100 ms", met: l.latency.p50 <= 100, detail: { inRows: l.inRows, missing: l.missing } }));
          rows.push(row({ figure: `live latency (${l.clients} clients), p99`, value: l.latency.p99, unit: "ms", baseline: r.latency.p99, baselineOf: "raw Socket.IO", goal: "≤ 300 ms", met: l.latency.p99 <= 300 }));
          rows.push(row({ figure: "live messages per client, busiest second", value: l.maxPerSecond, unit: "msg/s", baseline: r.maxPerSecond, baselineOf: "raw Socket.IO", goal: "≤ 5", met: l.maxPerSecond <= 5, detail: { patches: l.patches, truncated: l.truncated, meanPerSecond: l.meanPerSecond } }));
        }
        if (throughput.livePart && rawThroughput.live) {
          const l = throughput.livePart;
          rows.push(row({ figure: `cross-node live latency (${l.clients} clients on node A, results on node ${farName}), p50`, value: l.latency.p50, unit: "ms", baseline: rawThroughput.live.latency.p50, baselineOf: "raw Socket.IO", goal: "≤ 100 ms", met: l.latency.p50 <= 100, detail: { p99: l.latency.p99, results: l.latency.n, inRows: l.inRows, missing: l.missing } }));
        }
        if (nodes > 1) rows.push(notifiesRow(notifies, expected));
      }
      await load.closeAgents();
      for (const p of [rawLoad, load]) await p.stop();
    }

    // ---------------------------------------------------------------- connections
    if (want("connections")) {
      log(`${k(sizes.connections)} agents connecting at once (raw Socket.IO first)`);
      const rawConnections: ConnectionFigures = await measureConnections({ url: rawServer!.url, credsFile, count: sizes.connections, heartbeatWindowMs: sizes.heartbeatWindowMs, rss: rawServer!.rss, log });
      const connections: ConnectionFigures = await measureConnections({ url: server.url, credsFile, count: sizes.connections, heartbeatWindowMs: sizes.heartbeatWindowMs, rss: server.rss, log });
      memory.push({ phase: `with ${k(sizes.connections)} agents connected`, rss: connections.rssConnected });
      await remember("after they left", connections.rssAfterClose);
      raw.connections = { taskwire: connections, raw: rawConnections };
      rows.push(row({ figure: `connections: ${k(connections.wanted)} agents connected`, value: connections.connected, unit: "", baseline: rawConnections.connected, baselineOf: "raw Socket.IO", goal: "all", met: connections.connected === connections.wanted, detail: { failures: connections.failures, refusals: connections.refusals, retries: connections.retries } }));
      rows.push(row({ figure: "connections: time until all connected (protocol retries)", value: connections.allConnectedMs, unit: "ms", baseline: rawConnections.allConnectedMs, baselineOf: "raw Socket.IO", goal: "≤ 3× raw", met: connections.connected === connections.wanted && connections.allConnectedMs <= 3 * rawConnections.allConnectedMs, detail: { connectP99: connections.connect.p99 } }));
      rows.push(row({ figure: `connections: server RSS with ${k(connections.wanted)}`, value: connections.rssConnected / MB, unit: "MB", baseline: rawConnections.rssConnected / MB, baselineOf: "raw Socket.IO", goal: "≤ 1 GB", met: connections.rssConnected <= 1024 * MB }));
      rows.push(row({ figure: `connections: heartbeat ack p99 (${Math.round(connections.heartbeatsPerSecond)}/s)`, value: connections.heartbeat.p99, unit: "ms", baseline: rawConnections.heartbeat.p99, baselineOf: "raw Socket.IO", goal: "≤ 100 ms", met: connections.heartbeat.p99 <= 100 && connections.heartbeatFailed === 0, detail: { failed: connections.heartbeatFailed } }));
    }

    // ---------------------------------------------------------------- many agents on one node
    if (want("many")) {
      const n = many.agents;
      const short = n < sizes.manyAgents ? ` (${k(sizes.manyAgents)} wanted; this machine's open-file limit, ${many.limit}, allows ${k(n)} in one process)` : "";
      log(`${k(n)} agents on one node from ${Math.ceil(n / sizes.manyPerProcess)} load processes${short} (raw Socket.IO first)`);
      const manyOpts = { credsFile: manyCredsFile, count: n, perProcess: sizes.manyPerProcess, heartbeatWindowMs: sizes.manyHeartbeatWindowMs, log };
      const rawMany: ConnectionFigures = await measureConnections({ ...manyOpts, url: rawServer!.url, rss: rawServer!.rss });
      const tMany: ConnectionFigures = await measureConnections({ ...manyOpts, url: server.url, rss: server.rss });
      memory.push({ phase: `with ${k(n)} agents connected`, rss: tMany.rssConnected });
      raw.many = { taskwire: tMany, raw: rawMany, wanted: sizes.manyAgents, openFileLimit: many.limit };
      rows.push(row({ figure: `${k(n)} agents: connected${short ? ` (of ${k(sizes.manyAgents)} wanted: open-file limit ${many.limit})` : ""}`, value: tMany.connected, unit: "", baseline: rawMany.connected, baselineOf: "raw Socket.IO", goal: "all", met: tMany.connected === n && !short, detail: { failures: tMany.failures, refusals: tMany.refusals } }));
      rows.push(row({ figure: `${k(n)} agents: server RSS`, value: tMany.rssConnected / MB, unit: "MB", baseline: rawMany.rssConnected / MB, baselineOf: "raw Socket.IO", goal: "≤ 1.5× raw", met: tMany.rssConnected <= 1.5 * rawMany.rssConnected, detail: { idleTaskwire: tMany.rssBefore / MB, idleRaw: rawMany.rssBefore / MB } }));
      // What the agents themselves cost: each server's RSS with them, less its RSS just before
      // they came. The total above also holds what each process held before (Next.js, the
      // worker threads, the heap's headroom after the earlier scenarios).
      const added = (f: ConnectionFigures) => f.rssConnected - f.rssBefore;
      rows.push(row({ figure: `${k(n)} agents: server RSS they added`, value: added(tMany) / MB, unit: "MB", baseline: added(rawMany) / MB, baselineOf: "raw Socket.IO", goal: "≤ 1.5× raw", met: added(tMany) <= 1.5 * added(rawMany), detail: { kbPerAgent: added(tMany) / n / 1024, rawKbPerAgent: added(rawMany) / n / 1024 } }));
      rows.push(row({ figure: `${k(n)} agents: heartbeat ack p99 (${Math.round(tMany.heartbeatsPerSecond)}/s)`, value: tMany.heartbeat.p99, unit: "ms", baseline: rawMany.heartbeat.p99, baselineOf: "raw Socket.IO", goal: "≤ 3× raw", met: tMany.heartbeat.p99 <= 3 * rawMany.heartbeat.p99 && tMany.heartbeatFailed === 0, detail: { failed: tMany.heartbeatFailed } }));
    }
    await rawServer?.stop();

    // ---------------------------------------------------------------- restart
    if (want("restart")) {
      log(`a server restart under ${k(sizes.connections)} connected agents, each with a task waiting`);
      const port = Number(new URL(server.url).port);
      const restart: RestartFigures = await measureRestart({
        url: server.url,
        credsFile,
        count: sizes.connections,
        issue: async () => {
          const res = await api("/tasks", { type: "SYNC", targets: { devices: base.devices.slice(0, sizes.connections).map((d) => d.name) } });
          if (res.status !== 201) throw new Error(`the fan-out before the restart answered ${res.status}: ${await res.text()}`);
          return ((await res.json()) as { tasks: unknown[] }).tasks.length;
        },
        stop: () => server.stop(),
        start: async () => (server = await boot(targets.large, port)),
        timeoutMs: 120_000,
        log,
      });
      raw.restart = restart;
      const ok = restart.connected === restart.agents && restart.received >= restart.tasks;
      rows.push(row({ figure: `restart: all ${k(restart.agents)} agents back and ${k(restart.tasks)} waiting tasks received, from listening`, value: restart.allDispatchedMs, unit: "ms", baseline: restart.allBackMs ?? NaN, baselineOf: "all back", goal: "≤ 60 s", met: ok && restart.allDispatchedMs <= 60_000, detail: { downMs: restart.downMs, connected: restart.connected, received: restart.received, refusals: restart.refusals, retries: restart.retries } }));
    }
    if (want("schedules")) {
      log(`${k(sizes.schedules)} schedules due in the same minute`);
      const burst = await measureScheduleBurst({ url: server.url, database: targets.large, token: base.apiToken, devices: base.devices.map((d) => d.name), count: sizes.schedules, log });
      raw.schedules = burst;
      rows.push(row({ figure: `schedules: ${k(burst.schedules)} due in one minute, the last run after the minute began`, value: burst.lastAfterMs, unit: "ms", goal: "≤ 60 s, each run once", met: burst.ran === burst.schedules && burst.lastAfterMs <= 60_000, detail: burst }));
    }
    // Last: it deletes most of the history the other scenarios read.
    if (want("purge")) {
      log(`retention: the purge of the large database's history, and the list meanwhile`);
      const port = Number(new URL(server.url).port);
      const purge = await measurePurge({
        url: server.url,
        database: targets.large,
        organizationId: base.organizationId,
        cookie,
        token: base.apiToken,
        samples: sizes.listSamples,
        aloneMs: sizes.purgeAloneMs,
        restart: async (env) => {
          await server.stop();
          server = await boot(targets.large, port, env);
          return { url: server.url, cookie: await signIn(server.url, DEMO_USERS.admin, DEMO_PASSWORD) };
        },
        log,
      });
      raw.purge = purge;
      rows.push(row({ figure: `purge: ${k(purge.deleted)} finished tasks past their retention deleted`, value: purge.perSecond, unit: "/s", met: null, detail: { seconds: purge.seconds, before: purge.before, after: purge.after } }));
      rows.push(row({ figure: `purge: longest event-loop block, its first ${sizes.purgeAloneMs / 1000} s alone`, value: purge.loopMax, unit: "ms", baseline: idleLoopMax, baselineOf: "idle", goal: "≤ 50 ms", met: purge.loopMax <= 50, detail: { gcMaxMs: purge.gcMax, withListMs: purge.loopMaxWithList } }));
      rows.push(row({ figure: "list page: first page p95 while the purge runs", value: purge.during.p95, unit: "ms", baseline: purge.atRest.p95, baselineOf: "at rest, just before", goal: "≤ 100 ms", met: purge.during.p95 <= 100, detail: { p50: purge.during.p50, restP50: purge.atRest.p50, samples: purge.samplesDuring } }));
    }
    for (const node of cluster()) await node.stop();

    // The counts the triggers and issuing keep must still match the tasks themselves.
    const drift = await bookkeepingDrift(targets.large);
    rows.push(row({ figure: "bookkeeping: task counts and open fan-outs match the tasks", value: drift.counts + drift.fanouts, unit: "", goal: "0 mismatches", met: drift.counts + drift.fanouts === 0, detail: drift }));

    const idle = memory[0].rss;
    for (const mem of memory) {
      const heap = mem.heapUsed === undefined ? {} : { detail: { heapUsedMB: Math.round(mem.heapUsed / MB), heapTotalMB: Math.round(mem.heapTotal! / MB) } };
      const notes = [mem === memory[0] ? "" : `${mem.rss >= idle ? "+" : ""}${Math.round((mem.rss - idle) / MB)} MB`, mem.heapUsed === undefined ? "" : `heap ${Math.round(mem.heapUsed / MB)} MB used`].filter(Boolean);
      rows.push(row({ figure: `memory: ${nodes > 1 ? "node A" : "server"} RSS ${mem.phase}${notes.length ? ` (${notes.join("; ")})` : ""}`, value: mem.rss / MB, unit: "MB", ...(mem === memory[0] ? {} : { baseline: idle / MB, baselineOf: "idle" }), met: null, ...heap }));
    }

    const m1 = machine();
    const durationS = Math.round((now() - t0) / 1000);
    console.log("");
    console.log(`Taskwire benchmark (${sizes.name}${variant}) — ${startedAt.toISOString()}, ${durationS} s`);
    console.log(`machine: ${m1.cores} cores (${m1.cpu}), ${m1.memoryGB} GB, Node ${m1.node}; load average ${m0.loadavg.join(" ")} at start, ${m1.loadavg.join(" ")} at end`);
    if (Math.max(m0.loadavg[0], m1.loadavg[0]) > 1) console.log("WARNING: the machine was busy (load average above 1): other work shares these cores; the figures may be slower than the code.");
    console.log("");
    console.log(table(rows));
    const setup = args.pg ? `-pg${nodes > 1 ? `-${nodes}nodes` : ""}` : "";
    const out = args.out ?? join("bench", "results", `${startedAt.toISOString().replace(/[:.]/g, "-")}-${sizes.name}${setup}.json`);
    writeJson(out, { command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`, startedAt: startedAt.toISOString(), durationS, machine: { ...m1, loadavgAtStart: m0.loadavg }, sizes, dialect, nodes, rows, memory, raw });
    console.log(`\nJSON: ${out}`);
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => {});
    // After the servers: PostgreSQL is stopped and its folder removed, whatever happened.
    await benchPg?.stop().catch((e: unknown) => console.error(`stopping PostgreSQL: ${(e as Error).message}`));
    if (!args.keep) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

/** Agents `from`–`to` on each of `parts` nodes, in order: all on the one node when alone. */
function spread(agents: number, parts: number): { from: number; to: number }[] {
  return Array.from({ length: parts }, (_, i) => ({ from: Math.floor((i * agents) / parts), to: Math.floor(((i + 1) * agents) / parts) }));
}

/** The counter of NOTIFY payloads a node sent the others (lib/server/metrics.ts). */
const NOTIFIES = "taskwire_cluster_notifies_total";

/**
 * No step of a task may cost a message between nodes: hints are batched (lib/server/cluster.ts).
 * The NOTIFY payloads every node sent during the throughput run, per task issued.
 */
function notifiesRow(perNode: number[], tasks: number): Row {
  const total = perNode.reduce((a, b) => a + b, 0);
  const perTask = total / tasks;
  return row({ figure: `cluster: NOTIFY payloads per task (throughput run, ${perNode.length} nodes)`, value: perTask, unit: "", goal: "≪ 1 per task", met: perTask < 0.1, detail: { notifies: total, tasks, perNode: Object.fromEntries(perNode.map((n, i) => [nodeName(i), n])) } });
}

/** A figure this setup does not measure: no value (printed as —), and why. */
function notMeasured(figure: string, why: string): Row {
  return { figure: `${figure}: not measured on PostgreSQL (${why})`, value: NaN, unit: "", met: null };
}

/** Rows of task_counts and fan-outs whose bookkeeping disagrees with their tasks. */
function bookkeepingDrift(database: Target): Promise<{ counts: number; fanouts: number }> {
  return withConn(
    database,
    async (c) => {
      const [counts] = await c.rows<{ n: number }>(
        `select count(*) as n from (select organization_id, type, status, count(*) as n from tasks group by 1, 2, 3) t
         full outer join task_counts c using (organization_id, type, status) where coalesce(t.n, 0) <> coalesce(c.n, 0)`,
      );
      const [fanouts] = await c.rows<{ n: number }>(
        `select count(*) as n from fanouts f where open_tasks <> (select count(*) from tasks where fanout_id = f.id and status in ('SCHEDULED', 'PENDING', 'IN_PROGRESS'))`,
      );
      return { counts: counts.n, fanouts: fanouts.n };
    },
    { readonly: true },
  );
}

/** Tasks of these fan-outs by status, read from the database. */
async function statusesOf(database: Target, fanoutCodes: string[]): Promise<Record<string, number>> {
  const list = fanoutCodes.map(() => "?").join(",");
  const found = await readRows<{ status: string; n: number }>(database, `select status, count(*) as n from tasks where fanout_id in (select id from fanouts where code in (${list})) group by status`, fanoutCodes);
  return Object.fromEntries(found.map((r) => [r.status, r.n]));
}

/** The tasks of these fan-outs: their codes and devices. */
function tasksOf(database: Target, fanoutCodes: string[]): Promise<{ code: string; device_id: string }[]> {
  const list = fanoutCodes.map(() => "?").join(",");
  return readRows(database, `select t.code, t.device_id from tasks t join fanouts f on f.id = t.fanout_id where f.code in (${list})`, fanoutCodes);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  },
);
