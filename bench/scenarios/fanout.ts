// A fan-out to every device: POST /api/v1/tasks with targets.all, end to end, next to the same
// rows inserted by one statement in one transaction (SQLite: one prepared INSERT run per row;
// PostgreSQL: one INSERT of all the rows), their codes drawn as issuing draws them (random, and
// written in ascending order, so that the rows meet the code's unique index in its order, as the
// server's do); and the longest the server's event loop was held meanwhile.
import type Database from "better-sqlite3";
import type pg from "pg";
import { randomCode } from "../../lib/crypto";
import { randomCodesInOrder } from "../../lib/tasks/codes-in-order";
import { withFreshCodes } from "../../lib/tasks/issue";
import { connect, type Conn } from "../lib/db";
import { probeLoop, worstLoop } from "../lib/procs";
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

/** What the baseline is, per dialect, for the rows that name it. */
export const RAW_FANOUT = { sqlite: "1 prepared INSERT, 1 txn", pg: "1 INSERT of unnest(), 1 txn" } as const;

/** The floor: inserts the fan-out's rows outside the server and removes them; answers how long the insert took, in ms. */
type Baseline = {
  insert: () => Promise<number>;
  /** Puts the database back at rest before the server's POST is measured. */
  settle: () => Promise<void>;
};
type Rows = { organizationId: string; adminId: string; deviceIds: string[] };

export async function measureFanout(opts: {
  url: string;
  /** The server's DATABASE_URL: the baseline writes there, beside the server. */
  database: string;
  organizationId: string;
  adminId: string;
  token: string;
  runs: number;
  /** How long after the response the monitor is read (default SETTLE_MS). */
  settleMs?: number;
  /** The nodes whose loops are measured (default: the one at `url`); the worst is reported. */
  loopUrls?: string[];
  log: (l: string) => void;
}): Promise<FanoutFigures> {
  const settleMs = opts.settleMs ?? SETTLE_MS;
  const loopUrls = opts.loopUrls ?? [opts.url];
  const conn = await connect(opts.database);
  const deviceIds = (await conn.rows<{ id: string }>("select id from devices where organization_id = ? and status = 'ENABLED' and deleted_at is null", [opts.organizationId])).map((d) => d.id);
  const rows: Rows = { organizationId: opts.organizationId, adminId: opts.adminId, deviceIds };
  const baseline = conn.dialect === "sqlite" ? sqliteBaseline(conn.sqlite, rows) : pgBaseline(conn.client, rows);
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
    await worstLoop(loopUrls, true);
    await sleep(settleMs);
    const idleLoopMax = (await worstLoop(loopUrls, true)).max_ms;
    for (let i = 0; i < opts.runs; i++) {
      // Its codes are drawn as issuing draws them, and a taken one is drawn again likewise.
      raw.push(await withFreshCodes(baseline.insert));
      await baseline.settle();
      await worstLoop(loopUrls, true);
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
      const loop = await worstLoop(loopUrls, true);
      loopMax.push(loop.max_ms);
      probeMax.push(worstProbe);
      fanoutIds.push((await conn.rows<{ id: number }>("select id from fanouts where code = ?", [body.fanout]))[0].id);
      opts.log(`  run ${i + 1}: POST ${ms.toFixed(0)} ms, raw insert ${raw[i].toFixed(0)} ms, longest loop block ${loopMax[i]} ms (slowest probe ${worstProbe.toFixed(0)} ms; longest GC pause ${loop.gc_max_ms} ms)`);
    }
    return { devices: deviceIds.length, post, raw, loopMax, probeMax, idleLoopMax, responseBytes };
  } finally {
    // Nobody is connected yet: the tasks would wait for the agents of the next scenarios.
    // Cancelled here, directly, so those scenarios start from a quiet fleet.
    try {
      await cancelPending(conn, fanoutIds);
    } finally {
      await conn.close();
    }
  }
}

async function cancelPending(conn: Conn, fanoutIds: number[]): Promise<void> {
  if (!fanoutIds.length) return;
  const at = Date.now();
  await conn.run(
    `update tasks set status = 'CANCELLED', message = 'bench: cleared', updated_at = ?, finished_at = ? where fanout_id in (${fanoutIds.map(() => "?").join(", ")}) and status = 'PENDING'`,
    [at, at, ...fanoutIds],
  );
}

/**
 * SQLite: the same rows, one prepared statement, one transaction, on the server's own
 * connection settings (db/client.ts, lib/server/checkpointer.ts): the log is checkpointed by
 * the server's background thread, not inside this baseline's commit.
 */
function sqliteBaseline(sqlite: Database.Database, r: Rows): Baseline {
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("wal_autocheckpoint = 0");
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
  const { organizationId, adminId, deviceIds } = r;
  const insert = async () => {
    const at = Date.now();
    const codes = await randomCodesInOrder(deviceIds.length, async () => {});
    const t0 = now();
    const fanoutId = sqlite.transaction(() => {
      const id = Number(insertFanout.run(randomCode(), organizationId, deviceIds.length, deviceIds.length, adminId, at).lastInsertRowid);
      for (let i = 0; i < deviceIds.length; i++) insertTask.run(codes[i], organizationId, deviceIds[i], id, adminId, at, at, at + 86_400_000);
      count.run(organizationId, deviceIds.length);
      return id;
    })();
    const ms = now() - t0;
    sqlite.transaction(() => {
      sqlite.prepare("delete from tasks where fanout_id = ?").run(fanoutId);
      sqlite.prepare("delete from fanouts where id = ?").run(fanoutId);
    })();
    return ms;
  };
  // The baseline's own log (its rows and their removal, ~100 MB at 10,000) is copied back
  // into the file here, by the bench, before the POST: the server is measured on its own
  // writes, not while its background checkpointer copies the baseline's.
  return { insert, settle: () => checkpointed(sqlite) };
}

/**
 * PostgreSQL: the same rows in one INSERT (the tasks' varying columns as arrays through
 * unnest(): one statement and one round trip whatever the size, where VALUES lists would meet
 * the 65,535-parameter limit), one transaction, the database's own triggers included — on
 * PostgreSQL they count inserted tasks, which issuing relies on too. Settled by a VACUUM of
 * the tasks: the removed rows' index entries, scattered over the code's index as the codes
 * are, would otherwise still be there when the server's own rows land among them. No
 * checkpoint: the server writes back the baseline's pages in the background, and forcing one
 * here would make the POST pay for full-page images of every page it then touches first.
 */
function pgBaseline(client: pg.Client, r: Rows): Baseline {
  const { organizationId, adminId, deviceIds } = r;
  const insert = async () => {
    const at = Date.now();
    const codes = await randomCodesInOrder(deviceIds.length, async () => {});
    const t0 = now();
    const fanoutId = await inTransaction(client, async () => {
      const { rows } = await client.query<{ id: number }>(
        `insert into fanouts (code, organization_id, type, target, total, open_tasks, created_by, created_at) values ($1, $2, 'SYNC', '{"kind":"all","names":[]}', $3, $3, $4, $5) returning id`,
        [randomCode(), organizationId, deviceIds.length, adminId, at],
      );
      await client.query(
        // payload, scheduled_at and rerun_of left to their default, null.
        `insert into tasks (code, organization_id, device_id, fanout_id, type, status, created_by, created_at, updated_at, expires_at)
         select u.code, $3::text, u.device_id, $4::bigint, 'SYNC', 'PENDING', $5::text, $6::bigint, $6::bigint, $7::bigint from unnest($1::text[], $2::text[]) as u(code, device_id)`,
        [codes, deviceIds, organizationId, rows[0].id, adminId, at, at + 86_400_000],
      );
      return rows[0].id;
    });
    const ms = now() - t0;
    await inTransaction(client, async () => {
      await client.query("delete from tasks where fanout_id = $1", [fanoutId]);
      await client.query("delete from fanouts where id = $1", [fanoutId]);
    });
    return ms;
  };
  return {
    insert,
    settle: async () => {
      await client.query("vacuum tasks");
    },
  };
}

/** `work` between BEGIN and COMMIT; rolled back if it fails, so the connection stays usable. */
async function inTransaction<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    const result = await work();
    await client.query("COMMIT");
    return result;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
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
