// The task list at scale: GET /tasks (the page) and GET /api/v1/tasks with each filter alone,
// all together, and 200 pages deep — each next to the same SQL run alone and a near-empty
// Next.js answer.
import type { Actor } from "../../lib/actor";
import { row, rows, type Target } from "../lib/db";
import { sequential } from "../lib/http";
import type { PgSide } from "../lib/pg-side";
import type { DomainRead } from "../lib/reads";
import { sqlFloor } from "../lib/sql";
import { summary, type Summary } from "../lib/stats";

export type Variant = { name: string; filter: Record<string, string>; deep?: boolean; newestFanout?: boolean };

export type ListFigures = {
  tasks: number;
  emptyPage: Summary;
  emptyApi: Summary;
  variants: Record<string, { page: Summary; api: Summary; sqlPage: Summary; sqlApi: Summary; rows: number }>;
};

const PAGE = 30;
const DEEP_PAGES = 200;

/** The variants: a narrow device-name substring (~0.1% of the fleet), a type, a status, a fan-out. */
export const VARIANTS: Variant[] = [
  { name: "first page", filter: {} },
  { name: "device filter", filter: { device: "0012" } },
  { name: "type filter", filter: { type: "PING" } },
  { name: "status filter", filter: { status: "FAILED" } },
  // The newest wide fan-out of each database: what an admin follows from its progress bar.
  { name: "fan-out filter", filter: {}, newestFanout: true },
  { name: "all filters", filter: { device: "0012", type: "SYNC", status: "FAILED" } },
  { name: `${DEEP_PAGES} pages deep`, filter: {}, deep: true },
];

async function newestWideFanout(database: Target, organizationId: string): Promise<string> {
  const [found] = await rows<{ code: string }>(database, "select code from fanouts where organization_id = ? and total >= 50 order by id desc limit 1", [organizationId]);
  if (!found) throw new Error(`${database} has no fan-out of 50 tasks or more`);
  return found.code;
}

/** The keyset cursor the list's "Next" links reach after `pages` pages. */
async function deepCursor(database: Target, organizationId: string, pages: number): Promise<number> {
  const [found] = await rows<{ id: number }>(database, "select id from tasks where organization_id = ? order by id desc limit 1 offset ?", [organizationId, pages * PAGE - 1]);
  return found ? found.id : 0;
}

/** A server and its DATABASE_URL (the floor reads the same database). */
export type ListTarget = { url: string; database: Target; cookie: string };

/**
 * Measures every variant on each target (the small and the large database, each behind its
 * own server). Requests alternate between the targets in rounds of `ROUND`, so a change in the
 * machine's load during the run weighs on both sides of the comparison alike.
 */
export async function measureLists(opts: {
  targets: ListTarget[];
  organizationId: string;
  adminId: string;
  token: string;
  samples: number;
  /** On PostgreSQL: the helper that captures the statements (bench/pg-side.ts). */
  side?: PgSide;
  log: (line: string) => void;
}): Promise<ListFigures[]> {
  const { samples } = opts;
  const ROUND = 20;
  const actor: Actor = { organizationId: opts.organizationId, userId: opts.adminId, role: "ADMIN", label: "bench" };
  const floors = await Promise.all(opts.targets.map((t) => sqlFloor(t.database, opts.side)));
  const befores = await Promise.all(opts.targets.map((t) => deepCursor(t.database, opts.organizationId, DEEP_PAGES)));
  // `amount` requests of each target, alternating in rounds; one latency list per target.
  const alternate = async (url: (i: number) => string, headers: (i: number) => Record<string, string>) => {
    const out = opts.targets.map(() => [] as number[]);
    for (let i = 0; i < opts.targets.length; i++) await sequential(url(i), { amount: Math.min(10, Math.ceil(samples / 5)), headers: headers(i) });
    for (let done = 0; done < samples; done += ROUND) {
      for (let i = 0; i < opts.targets.length; i++) out[i].push(...(await sequential(url(i), { amount: Math.min(ROUND, samples - done), headers: headers(i) })).latencies);
    }
    return out.map(summary);
  };
  try {
    // The floors of a page and of an API answer: Next.js rendering a near-empty dynamic page
    // (/sign-in without a session: one tiny query), and a route handler returning a constant.
    const emptyPage = await alternate((i) => `${opts.targets[i].url}/sign-in`, () => ({}));
    const emptyApi = await alternate((i) => `${opts.targets[i].url}/api/v1/agent/server-key`, () => ({}));
    const tasks = await Promise.all(opts.targets.map(async (t) => (await row<{ n: number }>(t.database, "select count(*) as n from tasks")).n));
    const figures: ListFigures[] = opts.targets.map((t, i) => ({ tasks: tasks[i], emptyPage: emptyPage[i], emptyApi: emptyApi[i], variants: {} }));
    opts.log(`  empty page p50 ${emptyPage.map((s) => s.p50.toFixed(1)).join(" | ")} ms, empty API p50 ${emptyApi.map((s) => s.p50.toFixed(1)).join(" | ")} ms`);

    const fanouts = await Promise.all(opts.targets.map((t) => newestWideFanout(t.database, opts.organizationId)));
    for (const v of VARIANTS) {
      const filter = (i: number): Record<string, string> => (v.newestFanout ? { fanout: fanouts[i] } : v.filter);
      const cursor = (i: number) => (v.deep ? { before: befores[i] } : undefined);
      const pageQuery = (i: number) => new URLSearchParams({ ...filter(i), ...(v.deep ? { before: String(befores[i]) } : {}) });
      const apiQuery = (i: number) => new URLSearchParams({ ...filter(i), per_page: String(PAGE), ...(v.deep ? { page: String(DEEP_PAGES + 1) } : {}) });
      const sql: { rows: number; sqlPage: Summary; sqlApi: Summary }[] = [];
      for (const [i, floor] of floors.entries()) {
        const pageRead: DomainRead = { fn: "listTasks", actor, filter: filter(i), cursor: cursor(i), limit: PAGE };
        const apiRead: DomainRead = { fn: "pageTasks", actor, filter: filter(i), page: v.deep ? DEEP_PAGES + 1 : 1, perPage: PAGE };
        const pageSql = await floor.capture(pageRead);
        const apiSql = await floor.capture(apiRead);
        sql.push({
          rows: pageSql.items,
          sqlPage: summary(await floor.replay(pageSql.statements, samples)),
          sqlApi: summary(await floor.replay(apiSql.statements, samples)),
        });
      }
      const page = await alternate((i) => `${opts.targets[i].url}/tasks?${pageQuery(i)}`, (i) => ({ cookie: opts.targets[i].cookie }));
      const api = await alternate((i) => `${opts.targets[i].url}/api/v1/tasks?${apiQuery(i)}`, () => ({ authorization: `Bearer ${opts.token}` }));
      opts.targets.forEach((_, i) => (figures[i].variants[v.name] = { page: page[i], api: api[i], ...sql[i] }));
      const fmt = (i: number) =>
        `page p50 ${page[i].p50.toFixed(1)} p95 ${page[i].p95.toFixed(1)} (sql ${sql[i].sqlPage.p50.toFixed(2)}) · api p50 ${api[i].p50.toFixed(1)} p95 ${api[i].p95.toFixed(1)} (sql ${sql[i].sqlApi.p50.toFixed(2)}) · ${sql[i].rows} rows`;
      opts.log(`  ${v.name.padEnd(16)} ${opts.targets.map((_, i) => fmt(i)).join("\n  " + " ".repeat(16) + " ")}`);
    }
    return figures;
  } finally {
    for (const f of floors) await f.close();
  }
}
