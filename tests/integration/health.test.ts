// What a load balancer asks of a node: /healthz and /readyz, on either database; and, on
// PostgreSQL, what happens while the database is out of reach.
import http from "node:http";
import { describe, expect, test } from "vitest";
import { agentServerFixture, closeAgentsAfterEach, taskRow, waitFor, waitForStatus } from "../support/agents";
import { onPg } from "../support/databases";
import { rawRow, rawRun } from "../support/raw";
import { signIn } from "../support/server";

const ctx = agentServerFixture({ env: { TASKWIRE_CLOCK_MAX_SLEEP_MS: "200" } });
closeAgentsAfterEach();

const get = async (path: string, method = "GET") => {
  const res = await fetch(`${ctx.url}${path}`, { method });
  return { status: res.status, body: res.status === 405 || method === "GET" ? ((await res.json()) as Record<string, unknown>) : null };
};

/** On PostgreSQL, /readyz also reports the listener of the hints between nodes. */
const listener = onPg ? { listener: "ok" } : {};

/** The migrations table: drizzle keeps it in its own schema on PostgreSQL. */
const MIGRATIONS = onPg ? "drizzle.__drizzle_migrations" : "__drizzle_migrations";

describe("health", () => {
  test("/healthz: up; /readyz: the database answers, every migration is applied, the clock keeps time", async () => {
    expect(await get("/healthz")).toEqual({ status: 200, body: { status: "ok" } });
    expect(await get("/readyz")).toEqual({ status: 200, body: { status: "ready", checks: { database: "ok", migrations: "ok", clock: "ok", ...listener } } });
    expect(await get("/healthz?probe=1")).toMatchObject({ status: 200 });
    expect(await get("/readyz", "POST")).toMatchObject({ status: 405, body: { error: { code: "method_not_allowed" } } });
  });

  test("a database whose migrations are behind this build is not ready; ready again once they are all there", async () => {
    // The newest migration's record (drizzle's migrator keys them by when they were made).
    const last = (await rawRow<{ hash: string; created_at: number }>(ctx.dbFile, `select hash, created_at from ${MIGRATIONS} order by created_at desc limit 1`))!;
    expect(await rawRun(ctx.dbFile, `delete from ${MIGRATIONS} where created_at = ?`, last.created_at)).toBe(1);
    try {
      expect(await get("/readyz")).toEqual({ status: 503, body: { status: "not ready", checks: { database: "ok", migrations: "behind", clock: "ok", ...listener } } });
    } finally {
      await rawRun(ctx.dbFile, `insert into ${MIGRATIONS} (hash, created_at) values (?, ?)`, last.hash, last.created_at);
    }
    expect(await get("/readyz")).toMatchObject({ status: 200 });
  });
});

describe("metrics", () => {
  /** The value of the series `name` of /metrics whose labels include `labels`, whatever their order. */
  const sample = (text: string, name: string, labels: Record<string, string>) => {
    for (const line of text.split("\n")) {
      const m = /^([a-z_:]+)\{([^}]*)\} (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const has = Object.fromEntries([...m[2].matchAll(/([a-z_]+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      if (Object.entries(labels).every(([k, v]) => has[k] === v)) return Number(m[3]);
    }
    return undefined;
  };
  const scrape = async () => {
    const res = await fetch(`${ctx.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  test("/metrics: transitions by status, dispatch latency, agents and live clients, event-loop delay and transaction time, each labelled with the node", async () => {
    const before = await scrape();
    const node = /taskwire_connected_agents\{node="([^"]+)"\}/.exec(before)?.[1];
    expect(node).toMatch(/^[0-9a-f-]{36}$/);
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const task = await ctx.issue(name, "PULL");
    const d = await agent.nextTask();
    expect(d.msg.code).toBe(task.code);
    d.ack({ accepted: true });
    await waitForStatus(ctx.dbFile, task.code, "IN_PROGRESS");

    const after = await scrape();
    const at = (text: string, series: string, labels: Record<string, string> = {}) => sample(text, series, { node: node!, ...labels }) ?? 0;
    expect(at(after, "taskwire_task_transitions_total", { to: "PENDING" })).toBeGreaterThanOrEqual(at(before, "taskwire_task_transitions_total", { to: "PENDING" }) + 1);
    expect(at(after, "taskwire_task_transitions_total", { to: "IN_PROGRESS" })).toBeGreaterThanOrEqual(at(before, "taskwire_task_transitions_total", { to: "IN_PROGRESS" }) + 1);
    expect(at(after, "taskwire_dispatch_latency_seconds_count")).toBeGreaterThanOrEqual(at(before, "taskwire_dispatch_latency_seconds_count") + 1);
    expect(sample(after, "taskwire_connected_agents", { node: node! })).toBeGreaterThanOrEqual(1);
    expect(sample(after, "taskwire_live_clients", { node: node! })).toBeGreaterThanOrEqual(0);
    expect(at(after, "taskwire_transaction_seconds_count", { kind: "transaction" })).toBeGreaterThan(0);
    expect(at(after, "taskwire_transaction_seconds_count", { kind: "batch" })).toBeGreaterThan(0);
    expect(sample(after, "nodejs_eventloop_lag_seconds", { node: node! })).toBeGreaterThanOrEqual(0);
  });
});

describe("connections", () => {
  /** GET `path` through `agent`; the response's Keep-Alive header, and whether the socket was new. */
  const getThrough = (agent: http.Agent, path: string) =>
    new Promise<{ keepAlive: string | undefined; reused: boolean }>((ok, fail) => {
      const req = http.get(`${ctx.url}${path}`, { agent }, (res) => {
        res.resume();
        res.on("end", () => ok({ keepAlive: res.headers["keep-alive"] as string | undefined, reused: req.reusedSocket }));
      });
      req.on("error", fail);
    });

  test("a keep-alive connection left idle for longer than Node's default 5 s is still open for the next request", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await getThrough(agent, "/healthz");
      expect(first).toEqual({ keepAlive: "timeout=65", reused: false });
      await new Promise((ok) => setTimeout(ok, 6_000));
      expect(await getThrough(agent, "/healthz")).toEqual({ keepAlive: "timeout=65", reused: true });
    } finally {
      agent.destroy();
    }
  }, 30_000);
});

describe.skipIf(!onPg)("PostgreSQL out of reach while running", () => {
  test("/readyz fails, writes answer 503, an agent's result is refused and not recorded, a page fails with nothing of the failure in it; all resumes once it is back", async () => {
    const cookie = await signIn(ctx.url, "admin@taskwire.local");
    const page = async () => {
      const res = await fetch(`${ctx.url}/tasks`, { headers: { cookie } });
      return { status: res.status, text: await res.text() };
    };
    expect((await page()).status).toBe(200);
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const task = await ctx.issue(name, "SYNC");
    const d = await agent.nextTask();
    d.ack({ accepted: true });
    await waitForStatus(ctx.dbFile, task.code, "IN_PROGRESS");

    // Its database refuses connections, and the server's are cut.
    const database = new URL(ctx.dbFile).pathname.slice(1);
    const admin = process.env.TASKWIRE_TEST_PG_URL!;
    await rawRun(admin, `ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
    try {
      await rawRun(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()", database);
      await waitFor("/readyz to fail", async () => (await get("/readyz")).status === 503, 15_000, 100);
      expect((await get("/readyz")).body).toMatchObject({ status: "not ready", checks: { database: "unreachable" } });
      expect((await get("/healthz")).status).toBe(200);

      const write = await ctx.api.post<{ error: { code: string; message: string } }>("/tasks", { as: { token: ctx.tokens.acmeWrite! }, json: { type: "SYNC", targets: { devices: [name] } } });
      expect(write.status).toBe(503);
      expect(write.body.error.code).toBe("unavailable");
      expect(write.body.error.message).toBe("The database cannot be reached just now; try again shortly");
      expect(JSON.stringify(write.body)).not.toMatch(/postgres|select|insert|ECONN|terminat/i);

      expect(await agent.send("result", { code: task.code, status: "COMPLETED", message: "done" })).toEqual({ ok: false, error: "internal" });

      // Next answers a page that failed as it rendered with 500, and the browser renders the
      // console's error page from it (tests/e2e/outage.spec.ts): nothing of the failure is in it.
      const failed = await page();
      expect(failed.status).toBe(500);
      expect(failed.text).not.toMatch(/postgres|select |insert |ECONN|terminat|node_modules|\bat \S+ \(/i);
    } finally {
      await rawRun(admin, `ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    }
    expect((await taskRow(ctx.dbFile, task.code))!.status).toBe("IN_PROGRESS");
    await waitFor("/readyz to pass", async () => (await get("/readyz")).status === 200, 15_000, 100);
    // Sent again, as the protocol asks after `internal`: recorded once.
    expect(await agent.send("result", { code: task.code, status: "COMPLETED", message: "done" })).toEqual({ ok: true });
    expect((await taskRow(ctx.dbFile, task.code))!.status).toBe("COMPLETED");
    expect((await page()).status).toBe(200);
  });
});
