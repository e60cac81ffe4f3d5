// A fan-out to every device: POST /api/v1/tasks with targets.all, end to end, next to the same
// rows inserted by one prepared statement in one transaction; and the longest the server's
// event loop was held meanwhile.
import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { loopStats, probeLoop } from "../lib/procs";
import { median, now, sleep } from "../lib/stats";

export type FanoutFigures = {
  devices: number;
  post: number[];
  raw: number[];
  loopMax: number[];
  /** Cross-check from outside: the slowest answer to a tiny request sent every 10 ms meanwhile. */
  probeMax: number[];
  idleLoopMax: number;
  responseBytes: number;
};

// What the server does after answering (dispatch reads, live coalescing) is part of the
// fan-out's cost on the event loop: the monitor is read this long after the response.
const SETTLE_MS = 1_000;

export async function measureFanout(opts: {
  url: string;
  dbFile: string;
  organizationId: string;
  adminId: string;
  token: string;
  runs: number;
  /** How long after the response the monitor is read (default SETTLE_MS). */
  settleMs?: number;
  log: (l: string) => void;
}): Promise<FanoutFigures> {
  const settleMs = opts.settleMs ?? SETTLE_MS;
  const sqlite = new Database(opts.dbFile, { fileMustExist: true });
  // The server's own connection settings (db/client.ts, lib/server/checkpointer.ts): the log
  // is checkpointed by the server's background thread, not inside this baseline's commit.
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("wal_autocheckpoint = 0");
  const deviceIds = (sqlite.prepare("select id from devices where organization_id = ? and status = 'ENABLED' and deleted_at is null").all(opts.organizationId) as { id: string }[]).map((d) => d.id);
  const insertFanout = sqlite.prepare("insert into fanouts (code, organization_id, type, target, total, open_tasks, created_by, created_at) values (?, ?, 'SYNC', '{\"kind\":\"all\",\"names\":[]}', ?, ?, ?, ?)");
  // The bookkeeping issuing does too (lib/tasks/issue.ts), so that removing the rows again
  // (which the triggers count) leaves the counts as they were.
  const count = sqlite.prepare(
    "insert into task_counts (organization_id, type, status, n) values (?, 'SYNC', 'PENDING', ?) on conflict (organization_id, type, status) do update set n = n + excluded.n",
  );
  const insertTask = sqlite.prepare(
    `insert into tasks (code, organization_id, device_id, fanout_id, type, status, payload, created_by, created_at, updated_at, scheduled_at, expires_at, rerun_of)
     values (?, ?, ?, ?, 'SYNC', 'PENDING', null, ?, ?, ?, null, ?, null)`,
  );
  // The baseline: the same rows, one prepared statement, one transaction (then removed).
  const rawInsert = () => {
    const at = Date.now();
    const tag = randomUUID().replace(/-/g, "").slice(0, 6);
    const t0 = now();
    const fanoutId = sqlite.transaction(() => {
      const id = Number(insertFanout.run(`B${tag}`, opts.organizationId, deviceIds.length, deviceIds.length, opts.adminId, at).lastInsertRowid);
      for (let i = 0; i < deviceIds.length; i++) insertTask.run(`b${tag}${i}`, opts.organizationId, deviceIds[i], id, opts.adminId, at, at, at + 86_400_000);
      count.run(opts.organizationId, deviceIds.length);
      return id;
    })();
    const ms = now() - t0;
    sqlite.transaction(() => {
      sqlite.prepare("delete from tasks where fanout_id = ?").run(fanoutId);
      sqlite.prepare("delete from fanouts where id = ?").run(fanoutId);
    })();
    return ms;
  };
  const fanoutIds: number[] = [];
  const post: number[] = [];
  const raw: number[] = [];
  const loopMax: number[] = [];
  const probeMax: number[] = [];
  let responseBytes = 0;
  try {
    // The first request to a route after start loads the route's code (a one-time 40–70 ms
    // of the loop): load it with a request the route refuses before anything is measured.
    await fetch(`${opts.url}/api/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${opts.token}` },
      body: JSON.stringify({ type: "SYNC", targets: {} }),
    }).then((r) => r.text());
    // How long the loop is held when nothing happens, over the same window.
    await loopStats(opts.url, true);
    await sleep(settleMs);
    const idleLoopMax = (await loopStats(opts.url, true)).max_ms;
    for (let i = 0; i < opts.runs; i++) {
      raw.push(rawInsert());
      // The baseline's own log (its rows and their removal, ~100 MB at 10,000) is copied back
      // into the file here, by the bench, before the POST: the server is measured on its own
      // writes, not while its background checkpointer copies the baseline's.
      await checkpointed(sqlite);
      await loopStats(opts.url, true);
      // Node does not record the first interval after a reset: let one pass before the POST.
      await sleep(50);
      const t0 = now();
      const posted = fetch(`${opts.url}/api/v1/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${opts.token}` },
        body: JSON.stringify({ type: "SYNC", targets: { all: true } }),
      }).then(async (r) => ({ res: r, text: await r.text(), ms: now() - t0 }));
      const settled = posted.then(() => sleep(settleMs));
      const [{ res, text, ms }, worstProbe] = await Promise.all([posted, probeLoop(opts.url, settled)]);
      await settled;
      if (res.status !== 201) throw new Error(`the fan-out answered ${res.status}: ${text.slice(0, 300)}`);
      const body = JSON.parse(text) as { fanout: string; total: number };
      if (body.total !== deviceIds.length) throw new Error(`the fan-out made ${body.total} tasks, expected ${deviceIds.length}`);
      responseBytes = text.length;
      post.push(ms);
      const loop = await loopStats(opts.url, true);
      loopMax.push(loop.max_ms);
      probeMax.push(worstProbe);
      fanoutIds.push((sqlite.prepare("select id from fanouts where code = ?").get(body.fanout) as { id: number }).id);
      opts.log(`  run ${i + 1}: POST ${ms.toFixed(0)} ms, raw insert ${raw[i].toFixed(0)} ms, longest loop block ${loopMax[i]} ms (slowest probe ${worstProbe.toFixed(0)} ms; longest GC pause ${loop.gc_max_ms} ms)`);
    }
    return { devices: deviceIds.length, post, raw, loopMax, probeMax, idleLoopMax, responseBytes };
  } finally {
    // Nobody is connected yet: the tasks would wait for the agents of the next scenarios.
    // Cancelled here, directly, so those scenarios start from a quiet fleet.
    const at = Date.now();
    const cancel = sqlite.prepare("update tasks set status = 'CANCELLED', message = 'bench: cleared', updated_at = ?, finished_at = ? where fanout_id = ? and status = 'PENDING'");
    sqlite.transaction(() => {
      for (const id of fanoutIds) cancel.run(at, at, id);
    })();
    sqlite.close();
  }
}

export const fanoutMedian = (f: FanoutFigures) => ({ post: median(f.post), raw: median(f.raw) });

/** Waits until the log holds nothing that is not in the database file (passive checkpoints: nobody waits for them). */
async function checkpointed(sqlite: Database.Database): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const [r] = sqlite.pragma("wal_checkpoint(PASSIVE)") as { busy: number; log: number; checkpointed: number }[];
    if (r.log === r.checkpointed) return;
    await sleep(20);
  }
}
