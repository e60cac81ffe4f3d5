// A clock batch: a fan-out to every device of the organization scheduled a few seconds ahead,
// so that all its tasks fall due at once; the longest the server's event loop was held while
// the clock moved them to PENDING (and whatever follows on the server), and how long that took.
import { connect } from "../lib/db";
import { probeLoop, worstLoop } from "../lib/procs";
import { now, sleep } from "../lib/stats";

export type ClockFigures = {
  tasks: number;
  /** From the scheduled time until no task of the fan-out was SCHEDULED, in ms. */
  fireMs: number;
  loopMax: number;
  /** Cross-check from outside: the slowest answer to a tiny request sent every 10 ms meanwhile. */
  probeMax: number;
};

// The scheduled fan-out is created (its own block of the loop) and settles before the monitor
// is reset: the tasks fall due this long after the request.
const LEAD_MS = 10_000;
// What the server does after the last task fired (dispatch reads, live coalescing) is part of
// the batch's cost: the monitor is read this long after.
const SETTLE_MS = 1_000;
const FIRE_TIMEOUT_MS = 60_000;

export async function measureClockBatch(opts: {
  url: string;
  /** The server's DATABASE_URL: the bench watches the tasks from a connection of its own. */
  database: string;
  token: string;
  /** The nodes whose loops are measured (default: the one at `url`); the worst is reported. */
  loopUrls?: string[];
  log: (l: string) => void;
}): Promise<ClockFigures> {
  const loopUrls = opts.loopUrls ?? [opts.url];
  const conn = await connect(opts.database);
  let fanoutId: number | undefined;
  try {
    const dueAt = Date.now() + LEAD_MS;
    const res = await fetch(`${opts.url}/api/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${opts.token}` },
      body: JSON.stringify({ type: "SYNC", targets: { all: true }, scheduled_at: new Date(dueAt).toISOString() }),
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`the scheduled fan-out answered ${res.status}: ${text.slice(0, 300)}`);
    const body = JSON.parse(text) as { fanout: string; total: number };
    fanoutId = (await conn.rows<{ id: number }>("select id from fanouts where code = ?", [body.fanout]))[0].id;
    const scheduled = async () => (await conn.rows<{ n: number }>("select count(*) as n from tasks where fanout_id = ? and status = 'SCHEDULED'", [fanoutId]))[0].n;
    await sleep(SETTLE_MS);
    if (Date.now() > dueAt - 200 || (await scheduled()) !== body.total) {
      throw new Error(`the scheduled fan-out of ${body.total} tasks took too long to create: it fell due before the loop monitor was reset`);
    }
    await worstLoop(loopUrls, true);
    // Node does not record the first interval after a reset: let one pass before the batch.
    await sleep(50);
    // Polled from this process's own connection: reads do not wait on the server's writes.
    const fired = (async () => {
      await sleep(Math.max(0, dueAt - Date.now()));
      const deadline = now() + FIRE_TIMEOUT_MS;
      while ((await scheduled()) > 0) {
        if (now() > deadline) throw new Error(`the clock left ${await scheduled()} of ${body.total} due tasks SCHEDULED for ${FIRE_TIMEOUT_MS / 1000} s`);
        await sleep(20);
      }
      return Date.now() - dueAt;
    })();
    const settled = fired.then(() => sleep(SETTLE_MS));
    const [fireMs, probeMax] = await Promise.all([fired, probeLoop(opts.url, settled)]);
    await settled;
    const loopMax = (await worstLoop(loopUrls, true)).max_ms;
    opts.log(`  ${body.total} tasks due at once: all fired ${fireMs} ms after their time, longest loop block ${loopMax} ms (slowest probe ${probeMax.toFixed(0)} ms)`);
    return { tasks: body.total, fireMs, loopMax, probeMax };
  } finally {
    // Nobody is connected yet: the tasks would wait for the agents of the next scenarios.
    // Cancelled here, directly, so those scenarios start from a quiet fleet.
    try {
      if (fanoutId !== undefined) {
        const at = Date.now();
        await conn.run("update tasks set status = 'CANCELLED', message = 'bench: cleared', updated_at = ?, finished_at = ? where fanout_id = ? and status in ('SCHEDULED', 'PENDING')", [at, at, fanoutId]);
      }
    } finally {
      await conn.close();
    }
  }
}
