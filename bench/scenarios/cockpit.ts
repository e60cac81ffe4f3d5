// The fan-out cockpit at a 100,000-task fan-out: its page and its API (counts, failure
// groups, offline devices and durations, read from the bookkeeping and the partial indexes),
// the fan-out list, and the CSV export streamed whole.
import { rows, type Target } from "../lib/db";
import { loopStats } from "../lib/procs";
import { sequential } from "../lib/http";
import { now } from "../lib/stats";
import { summary, type Summary } from "../lib/stats";

export type CockpitFigures = {
  tasks: number;
  /** The first API answer, nothing of the fan-out kept yet (one sample). */
  firstMs: number;
  firstLoopMs: number;
  page: Summary;
  api: Summary;
  /** The API's answer right after one of the fan-out's tasks was cancelled. */
  afterChange: Summary;
  list: Summary;
  emptyPage: Summary;
  export: { ms: number; bytes: number; rows: number; loopMaxMs: number; rssBeforeMB: number; rssPeakMB: number; heapBeforeMB: number; heapPeakMB: number };
};

/** The largest fan-out of the organization: the one the data builder made for the cockpit. */
async function cockpitFanout(database: Target, organizationId: string): Promise<{ code: string; total: number }> {
  const [found] = await rows<{ code: string; total: number }>(database, "select code, total from fanouts where organization_id = ? order by total desc, id limit 1", [organizationId]);
  if (!found) throw new Error(`${database} has no fan-out`);
  return { code: found.code, total: Number(found.total) };
}

export async function measureCockpit(opts: {
  url: string;
  database: Target;
  organizationId: string;
  cookie: string;
  token: string;
  samples: number;
  /** The server's longest event-loop block over some work (bench/run.ts). */
  loopBlock: <T>(work: () => Promise<T>) => Promise<{ result: T; maxMs: number }>;
  rss: () => number;
  log: (line: string) => void;
}): Promise<CockpitFigures> {
  const { code, total } = await cockpitFanout(opts.database, opts.organizationId);
  // The first look at the fan-out, before the process keeps anything of it (one sample): its
  // failures, durations and counts per OU are read from its tasks.
  // (The route's code is loaded first by a request for a fan-out that does not exist.)
  await fetch(`${opts.url}/api/v1/fanouts/00000000`, { headers: { authorization: `Bearer ${opts.token}` } }).then((r) => r.arrayBuffer());
  const t1 = now();
  const { maxMs: firstLoopMs } = await opts.loopBlock(async () => {
    const firstLook = await fetch(`${opts.url}/api/v1/fanouts/${code}`, { headers: { authorization: `Bearer ${opts.token}` } });
    await firstLook.arrayBuffer();
    if (firstLook.status !== 200) throw new Error(`the fan-out answered ${firstLook.status}`);
  });
  const firstMs = now() - t1;
  const page = (path: string) => sequential(`${opts.url}${path}`, { amount: opts.samples, warmup: 5, headers: { cookie: opts.cookie } });
  const emptyPage = summary((await sequential(`${opts.url}/sign-in`, { amount: opts.samples, warmup: 5 })).latencies);
  const cockpit = summary((await page(`/tasks/fanouts/${code}`)).latencies);
  const api = summary((await sequential(`${opts.url}/api/v1/fanouts/${code}`, { amount: opts.samples, warmup: 5, headers: { authorization: `Bearer ${opts.token}` } })).latencies);
  const list = summary((await page("/tasks/fanouts")).latencies);
  // A running fan-out changes between two looks: what its page derives from the tasks is read
  // afresh (lib/tasks/fanout-queries.ts keeps it only while the counts stay the same). Each
  // sample cancels one of its PENDING tasks first, through the API, then reads the fan-out.
  const pending = await rows<{ code: string }>(opts.database, "select t.code from tasks t join fanouts f on f.id = t.fanout_id where f.code = ? and t.status = 'PENDING' limit 20", [code]);
  const changed: number[] = [];
  for (const p of pending) {
    const auth = { authorization: `Bearer ${opts.token}` };
    const cancelled = await fetch(`${opts.url}/api/v1/tasks/${p.code}/cancel`, { method: "PUT", headers: auth });
    if (cancelled.status !== 200) throw new Error(`cancelling ${p.code} answered ${cancelled.status}`);
    await cancelled.arrayBuffer();
    const t = now();
    const res = await fetch(`${opts.url}/api/v1/fanouts/${code}`, { headers: auth });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`the fan-out answered ${res.status}`);
    changed.push(now() - t);
  }
  const afterChange = summary(changed);
  opts.log(`  ${total.toLocaleString("en-US")}-task fan-out: page p50 ${cockpit.p50.toFixed(1)} p95 ${cockpit.p95.toFixed(1)} ms · API p50 ${api.p50.toFixed(1)} p95 ${api.p95.toFixed(1)} ms, first look ${firstMs.toFixed(0)} ms, after a change p50 ${afterChange.p50.toFixed(1)} p95 ${afterChange.p95.toFixed(1)} ms · list p95 ${list.p95.toFixed(1)} ms (empty page p95 ${emptyPage.p95.toFixed(1)})`);

  // The first request to a route after start loads the route's code (a one-time 40–100 ms of
  // the loop): load it with the export of a one-task fan-out before anything is measured.
  const [small] = await rows<{ code: string }>(opts.database, "select code from fanouts where organization_id = ? and total = 1 limit 1", [opts.organizationId]);
  await fetch(`${opts.url}/api/v1/fanouts/${small.code}/tasks.csv`, { headers: { authorization: `Bearer ${opts.token}` } }).then((r) => r.arrayBuffer());
  // The export, read to its end as a client would, while the server's memory is sampled
  // every 50 ms: its resident size, and its V8 heap in use (what the export itself holds;
  // the resident size also keeps what the collector freed but the process has not returned).
  const heapNow = async () => (await loopStats(opts.url)).heap_used_bytes ?? 0;
  const rssBefore = opts.rss();
  const heapBefore = await heapNow();
  let rssPeak = rssBefore;
  let heapPeak = heapBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, opts.rss());
    void heapNow().then((h) => (heapPeak = Math.max(heapPeak, h)));
  }, 50);
  let bytes = 0;
  let lines = 0;
  const t0 = now();
  const { maxMs } = await opts.loopBlock(async () => {
    const res = await fetch(`${opts.url}/api/v1/fanouts/${code}/tasks.csv`, { headers: { authorization: `Bearer ${opts.token}` } });
    if (res.status !== 200 || !res.body) throw new Error(`the export answered ${res.status}`);
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      for (const b of value) if (b === 10) lines++;
    }
  });
  const ms = now() - t0;
  clearInterval(sampler);
  const MB = 1024 * 1024;
  if (lines - 1 !== total) throw new Error(`the export wrote ${lines - 1} rows, expected ${total}`);
  const figures = { ms, bytes, rows: lines - 1, loopMaxMs: maxMs, rssBeforeMB: Math.round(rssBefore / MB), rssPeakMB: Math.round(rssPeak / MB), heapBeforeMB: Math.round(heapBefore / MB), heapPeakMB: Math.round(heapPeak / MB) };
  opts.log(`  CSV export: ${figures.rows.toLocaleString("en-US")} rows, ${(bytes / MB).toFixed(1)} MB in ${(ms / 1000).toFixed(1)} s; server RSS ${figures.rssBeforeMB} → peak ${figures.rssPeakMB} MB, heap in use ${figures.heapBeforeMB} → peak ${figures.heapPeakMB} MB`);
  return { tasks: total, firstMs, firstLoopMs, page: cockpit, api, afterChange, list, emptyPage, export: figures };
}
