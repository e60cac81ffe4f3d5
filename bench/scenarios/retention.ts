// Retention and schedules at scale. The purge: most of the large database's history made old
// (the organization keeps finished tasks one day), a server whose purge runs at once, and
// the task list's first page measured while it deletes, beside the same page at rest just
// before. Schedules: 1,000 due in the same minute, and how long after that minute began the
// last of them had its run.
import { row as readRow, type Target } from "../lib/db";
import { sequential } from "../lib/http";
import { worstLoop } from "../lib/procs";
import { now, sleep, summary, type Summary } from "../lib/stats";

export type PurgeFigures = {
  before: number;
  after: number;
  deleted: number;
  seconds: number;
  perSecond: number;
  atRest: Summary;
  during: Summary;
  samplesDuring: number;
  /** The server's longest event-loop block over the purge's first `aloneMs`, with nothing else to serve, and its longest GC pause. */
  loopMax: number;
  gcMax: number;
  /** The same over the rest of the purge, while it also served the list. */
  loopMaxWithList: number;
};

const countTasks = async (database: Target, organizationId: string) =>
  Number((await readRow<{ n: number }>(database, "select count(*) as n from tasks where organization_id = ?", [organizationId])).n);

/**
 * `restart(env)` stops the server and starts it again with `env` (the purge's interval); the
 * list is measured on the new one while it purges, in rounds, until the count stands still.
 */
export async function measurePurge(opts: {
  url: string;
  database: Target;
  organizationId: string;
  cookie: string;
  token: string;
  samples: number;
  /** How long the purge runs alone, from its first deleted task, before the list is read meanwhile. */
  aloneMs: number;
  restart: (env: Record<string, string>) => Promise<{ url: string; cookie: string }>;
  log: (l: string) => void;
}): Promise<PurgeFigures> {
  const page = (url: string, cookie: string, amount: number) => sequential(`${url}/tasks`, { amount, headers: { cookie } });
  const atRest = summary((await page(opts.url, opts.cookie, opts.samples)).latencies);
  const res = await fetch(`${opts.url}/api/v1/organization/retention`, {
    method: "PUT",
    // As the admin's session (the bench's token is READ_WRITE), from the console's own origin.
    headers: { cookie: opts.cookie, origin: opts.url, "content-type": "application/json" },
    body: JSON.stringify({ task_days: 1, audit_days: 730 }),
  });
  if (!res.ok) throw new Error(`setting the retention answered ${res.status}: ${await res.text()}`);
  const before = await countTasks(opts.database, opts.organizationId);
  // The purge's first run comes 5 s after start: the page is served a few times first (a fresh
  // server loads its code on first use), and the loop monitor is reset, so that what it then
  // records is the purge's and the list's, not start-up's.
  const server = await opts.restart({ TASKWIRE_PURGE_INTERVAL_MS: "5000" });
  await page(server.url, server.cookie, 20);
  const during: number[] = [];
  const t0 = now();
  let last = before;
  let firstDrop: number | null = null;
  let lastDrop = t0;
  let still = 0;
  // The purge alone first: from its first deleted task, `aloneMs` with nothing else asked of the
  // server (the count is read on a connection of the bench's own), for the loop's figure.
  let alone: { max_ms: number; gc_max_ms: number } | null = null;
  await worstLoop([server.url], true);
  for (;;) {
    if (firstDrop !== null && !alone && now() - firstDrop >= opts.aloneMs) alone = await worstLoop([server.url], true);
    if (alone) during.push(...(await page(server.url, server.cookie, 20)).latencies);
    const n = await countTasks(opts.database, opts.organizationId);
    if (n < last) {
      firstDrop ??= now();
      lastDrop = now();
      still = 0;
    } else if (firstDrop !== null && ++still >= 5) break;
    if (firstDrop === null && now() - t0 > 120_000) throw new Error("the purge did not start within 2 minutes");
    last = n;
    if (now() - t0 > 30 * 60_000) throw new Error("the purge did not finish within 30 minutes");
    await sleep(200);
  }
  const loop = await worstLoop([server.url], true);
  if (!alone) throw new Error(`the purge ended within ${opts.aloneMs / 1000} s: too little history to measure`);
  const seconds = (lastDrop - (firstDrop ?? t0)) / 1000;
  const deleted = before - last;
  opts.log(`  purge: ${deleted.toLocaleString("en-US")} tasks in ${seconds.toFixed(1)} s`);
  return { before, after: last, deleted, seconds, perSecond: deleted / Math.max(seconds, 0.001), atRest, during: summary(during), samplesDuring: during.length, loopMax: alone.max_ms, gcMax: alone.gc_max_ms, loopMaxWithList: loop.max_ms };
}

export type ScheduleBurstFigures = { schedules: number; ran: number; lastAfterMs: number; issued: number };

/** 1,000 schedules (each to one device) due at one minute: all created, then the minute is awaited. */
export async function measureScheduleBurst(opts: { url: string; database: Target; token: string; devices: string[]; count: number; log: (l: string) => void }): Promise<ScheduleBurstFigures> {
  // A minute at least 40 s ahead of the last creation (creating 1,000 takes some seconds).
  const due = new Date(Math.ceil((Date.now() + 100_000) / 60_000) * 60_000);
  const cron = `${due.getUTCMinutes()} ${due.getUTCHours()} ${due.getUTCDate()} ${due.getUTCMonth() + 1} *`;
  const tag = `bench-${due.getTime()}`;
  for (let i = 0; i < opts.count; i++) {
    const res = await fetch(`${opts.url}/api/v1/schedules`, {
      method: "POST",
      headers: { authorization: `Bearer ${opts.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: `${tag}-${i}`, type: "PING", payload: { host: "192.0.2.1" }, targets: { devices: [opts.devices[i % opts.devices.length]] }, cron, timezone: "UTC" }),
    });
    if (res.status !== 201) throw new Error(`creating schedule ${i} answered ${res.status}: ${await res.text()}`);
  }
  if (Date.now() > due.getTime()) throw new Error("creating the schedules took past their minute");
  opts.log(`  ${opts.count} schedules due at ${due.toISOString()}`);
  const ranSql = "select count(*) as n, sum(case when outcome = 'issued' then 1 else 0 end) as issued, max(ran_at) as last from schedule_runs r join schedules s on s.id = r.schedule_id where s.name like ? and r.due_at = ?";
  let ran = { n: 0, issued: 0, last: 0 };
  while (Date.now() < due.getTime() + 120_000) {
    await sleep(500);
    const r = await readRow<{ n: number; issued: number | null; last: number | null }>(opts.database, ranSql, [`${tag}-%`, due.getTime()]);
    ran = { n: Number(r.n), issued: Number(r.issued ?? 0), last: Number(r.last ?? 0) };
    if (ran.n >= opts.count) break;
  }
  return { schedules: opts.count, ran: ran.n, issued: ran.issued, lastAfterMs: ran.last ? ran.last - due.getTime() : NaN };
}
