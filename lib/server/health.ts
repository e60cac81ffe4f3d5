import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { resolve } from "node:path";
import { sql } from "drizzle-orm";
import { runnerOf, type Db } from "../../db/client";
import { nodes } from "../../db/schema";
import { metrics } from "./metrics";

// What a load balancer and a monitoring system ask (docs/deploy.md):
// - GET /healthz: the process is up and serving HTTP;
// - GET /readyz: it can do its work: the database answers, its migrations are all applied,
//   the clock keeps time and, on several nodes, the cluster listener holds its connection.
//   503 otherwise, naming which check failed and nothing more;
// - GET /metrics: Prometheus' text format (lib/server/metrics.ts).

export type Readiness = {
  ready: boolean;
  checks: { database: "ok" | "unreachable"; migrations: "ok" | "behind" | "unknown"; clock: "ok" | "stalled"; listener?: "ok" | "lost" };
};
/** What the process reports alive beside its database: its clock, and on PostgreSQL its cluster listener. */
export type Alive = { clock: () => boolean; listener?: () => boolean };

const DATABASE_TIMEOUT_MS = 2_000;

/** How many migrations this build carries, per dialect (drizzle-kit's journal). */
const expected = (dialect: "sqlite" | "pg") =>
  (JSON.parse(readFileSync(resolve(process.cwd(), `db/migrations/${dialect}/meta/_journal.json`), "utf8")) as { entries: unknown[] }).entries.length;

async function appliedMigrations(db: Db): Promise<number> {
  const runner = runnerOf(db);
  if (runner.kind === "pg") {
    const { rows } = await runner.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations");
    return rows[0].n;
  }
  return (await db.all<{ n: number }>(sql`SELECT count(*) AS n FROM __drizzle_migrations`))[0].n;
}

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timed out")), ms).unref())]);

export async function readiness(db: Db, alive: Alive): Promise<Readiness> {
  const checks: Readiness["checks"] = { database: "ok", migrations: "unknown", clock: alive.clock() ? "ok" : "stalled" };
  if (alive.listener) checks.listener = alive.listener() ? "ok" : "lost";
  try {
    await withTimeout(db.select({ id: nodes.id }).from(nodes).limit(1), DATABASE_TIMEOUT_MS);
    const kind = runnerOf(db).kind;
    checks.migrations = (await withTimeout(appliedMigrations(db), DATABASE_TIMEOUT_MS)) >= expected(kind) ? "ok" : "behind";
  } catch {
    checks.database = "unreachable";
  }
  return { ready: Object.values(checks).every((c) => c === "ok"), checks };
}

/** Answers /healthz, /readyz and /metrics; false for any other request. */
export function healthRoutes(db: Db, alive: Alive) {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/healthz" && path !== "/readyz" && path !== "/metrics") return false;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(req.method === "HEAD" ? undefined : JSON.stringify(body));
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      send(405, { error: { code: "method_not_allowed", message: "Use GET" } });
      return true;
    }
    if (path === "/healthz") {
      send(200, { status: "ok" });
      return true;
    }
    if (path === "/metrics") {
      const { registry } = metrics();
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType, "cache-control": "no-store" }).end(req.method === "HEAD" ? undefined : text),
        () => send(500, { error: { code: "internal", message: "The metrics could not be collected" } }),
      );
      return true;
    }
    readiness(db, alive).then(
      (r) => send(r.ready ? 200 : 503, { status: r.ready ? "ready" : "not ready", checks: r.checks }),
      () => send(503, { status: "not ready" }),
    );
    return true;
  };
}
