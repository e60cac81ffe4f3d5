// The JSON API's fan-outs on the real production server and the demo data: the list, one
// fan-out's cockpit, retry, cancel the rest, and the CSV and JSON exports, which must say
// what the task API says.
import { describe, expect, test } from "vitest";
import { apiServerFixture, expectError, rowCounts, type Caller, type Issued, type TaskPage } from "../support/api";
import { rawRows } from "../support/raw";

const ctx = apiServerFixture();
const { api, admin, token } = ctx;

type Counts = Record<string, number>;
type FanoutItem = { code: string; type: string; total: number; counts: Counts; outcome: string; retry_of: string | null; target: Record<string, unknown> };
type FanoutPage = { items: FanoutItem[]; total: number; page: number; per_page: number; pages: number };
type FanoutDetail = FanoutItem & {
  failure_groups: { group: string; count: number; example: string; tasks: { code: string; device: string }[] }[];
  offline: { count: number; devices: { device: string; task: string }[] };
  durations: { count: number; p50_ms: number | null; p95_ms: number | null };
  by_ou: { ou: string; counts: Counts }[];
  retries: { code: string; total: number; outcome: string }[];
};
type RetryAnswer = Issued & { retry_of: string; skipped: { device: string; reason: string }[] };

/** The demo's largest fan-out with FAILED tasks. */
async function withFailures(): Promise<FanoutItem> {
  const { body } = await api.get<FanoutPage>("/fanouts?per_page=100", { as: admin });
  const f = body.items.filter((i) => i.counts.FAILED > 0).sort((a, b) => b.total - a.total)[0];
  expect(f, "a fan-out with failures in the demo").toBeDefined();
  return f;
}

/** Every task of a fan-out through the task API, a page of 100 at a time. */
async function tasksOf(code: string) {
  const out: TaskPage["items"] = [];
  for (let page = 1; ; page++) {
    const { body } = await api.get<TaskPage>(`/tasks?fanout=${code}&per_page=100&page=${page}`, { as: admin });
    out.push(...body.items);
    if (page >= body.pages) return out;
  }
}

async function download(path: string, as: Caller = admin) {
  const headers: Record<string, string> = as && "cookie" in as ? { cookie: as.cookie } : as && "token" in as ? { authorization: `Bearer ${as.token}` } : {};
  const res = await fetch(`${ctx.server.url}/api/v1${path}`, { headers });
  return { status: res.status, type: res.headers.get("content-type"), disposition: res.headers.get("content-disposition"), text: await res.text() };
}

/** RFC 4180, as a spreadsheet reads it. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += ch;
  }
  return rows;
}

describe("GET /fanouts", () => {
  test("newest first with counts and outcomes; filters by type and outcome; bad filters name themselves", async () => {
    const { status, body } = await api.get<FanoutPage>("/fanouts?per_page=5", { as: admin });
    expect(status).toBe(200);
    expect(body.items).toHaveLength(5);
    for (const f of body.items) expect(Object.values(f.counts).reduce((a, b) => a + b, 0)).toBe(f.total);
    const sync = await api.get<FanoutPage>("/fanouts?type=SYNC&outcome=completed_with_failures&per_page=100", { as: admin });
    expect(sync.body.items.length).toBeGreaterThan(0);
    for (const f of sync.body.items) {
      expect(f.type).toBe("SYNC");
      expect(f.outcome).toBe("completed_with_failures");
      expect(f.counts.FAILED + f.counts.EXPIRED).toBeGreaterThan(0);
    }
    expectError(await api.get("/fanouts?outcome=exploded", { as: admin }), 400, "invalid", "outcome");
    expectError(await api.get("/fanouts?color=red", { as: admin }), 400, "invalid", "color");
    // Another organization sees none of Acme's.
    const globex = await api.get<FanoutPage>("/fanouts?per_page=100", { as: token("globex") });
    const acme = new Set(body.items.map((f) => f.code));
    expect(globex.body.items.some((f) => acme.has(f.code))).toBe(false);
  });
});

describe("GET /fanouts/{code}", () => {
  test("its counts are the task API's; its failure groups add up to its FAILED", async () => {
    const f = await withFailures();
    const { status, body } = await api.get<FanoutDetail>(`/fanouts/${f.code}`, { as: admin });
    expect(status).toBe(200);
    const tasks = await tasksOf(f.code);
    expect(tasks).toHaveLength(f.total);
    const counted: Counts = {};
    for (const t of tasks) counted[t.status] = (counted[t.status] ?? 0) + 1;
    for (const [s, n] of Object.entries(body.counts)) expect(n, s).toBe(counted[s] ?? 0);
    expect(body.failure_groups.reduce((n, g) => n + g.count, 0)).toBe(body.counts.FAILED);
    expect(body.durations.count).toBeGreaterThan(0);
    expect(body.durations.p95_ms).toBeGreaterThanOrEqual(body.durations.p50_ms!);
  });

  test("another organization's fan-out, or a code that cannot exist, is 404 everywhere", async () => {
    const f = await withFailures();
    for (const path of [`/fanouts/${f.code}`, "/fanouts/nope"]) expectError(await api.get(path, { as: token("globex") }), 404, "not_found");
    expectError(await api.post(`/fanouts/${f.code}/retry`, { as: token("globex"), json: {} }), 404, "not_found");
    expectError(await api.put(`/fanouts/${f.code}/cancel`, { as: token("globex") }), 404, "not_found");
    for (const ext of ["csv", "json"]) {
      const r = await download(`/fanouts/${f.code}/tasks.${ext}`, token("globex"));
      expect(r.status).toBe(404);
      expect(JSON.parse(r.text).error.code).toBe("not_found");
    }
  });
});

describe("exports", () => {
  test("the CSV and the JSON list every task as the task API shows it", async () => {
    const f = await withFailures();
    const csv = await download(`/fanouts/${f.code}/tasks.csv`);
    expect(csv.status).toBe(200);
    expect(csv.type).toMatch(/^text\/csv/);
    expect(csv.disposition).toBe(`attachment; filename="fanout-${f.code}.csv"`);
    const [header, ...rows] = parseCsv(csv.text);
    expect(header).toEqual(["code", "device", "ous", "status", "started_at", "finished_at", "duration_ms", "message"]);
    const json = await download(`/fanouts/${f.code}/tasks.json`);
    expect(json.status).toBe(200);
    const records = JSON.parse(json.text) as Record<string, unknown>[];
    const tasks = await tasksOf(f.code);
    expect(rows).toHaveLength(f.total);
    expect(records).toHaveLength(f.total);
    const byCode = new Map(tasks.map((t) => [t.code, t]));
    // Each task's device's OUs, as the database holds them.
    const memberships = await rawRows<{ code: string; ou: string }>(
      ctx.server.dbFile,
      "select t.code, o.name as ou from tasks t join fanouts f on f.id = t.fanout_id join device_ous d on d.device_id = t.device_id join ous o on o.id = d.ou_id where f.code = ?",
      f.code,
    );
    const ousOf = new Map<string, string[]>();
    for (const m of memberships) ousOf.set(m.code, [...(ousOf.get(m.code) ?? []), m.ou]);
    expect(ousOf.size, "tasks on devices in OUs").toBeGreaterThan(0);
    for (const [i, [code, device, ous, status, started, finished, duration, message]] of rows.entries()) {
      const t = byCode.get(code)!;
      expect(t, code).toBeDefined();
      expect([device, status, message]).toEqual([t.device, t.status, t.message ?? ""]);
      expect(ous, code).toBe((ousOf.get(code) ?? []).sort().join(";"));
      const r = records[i];
      expect(r).toMatchObject({ code, device, status, message: t.message, started_at: started || null, finished_at: finished || null });
      expect(r.ous).toEqual(ous ? ous.split(";") : []);
      expect(r.duration_ms).toBe(duration ? Number(duration) : null);
      if (started && finished) expect(Number(duration)).toBe(Date.parse(finished) - Date.parse(started));
    }
  });
});

describe("POST /fanouts/{code}/retry and PUT /fanouts/{code}/cancel", () => {
  test("Retry failed: a linked fan-out of exactly the failed devices; replayed by its key; refusals name their field", async () => {
    const f = await withFailures();
    const failed = new Set((await tasksOf(f.code)).filter((t) => t.status === "FAILED").map((t) => t.device));
    const key = { "idempotency-key": `retry-${f.code}` };
    const first = await api.post<RetryAnswer>(`/fanouts/${f.code}/retry`, { as: token("acmeWrite"), headers: key });
    expect(first.status).toBe(201);
    expect(first.body.retry_of).toBe(f.code);
    expect(new Set([...first.body.tasks.map((t) => t.device), ...first.body.skipped.map((s) => s.device)])).toEqual(failed);
    const again = await api.post<RetryAnswer>(`/fanouts/${f.code}/retry`, { as: token("acmeWrite"), headers: key });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
    const linked = await api.get<FanoutDetail>(`/fanouts/${f.code}`, { as: admin });
    expect(linked.body.retries.map((r) => r.code)).toContain(first.body.fanout);
    expect((await api.get<FanoutDetail>(`/fanouts/${first.body.fanout}`, { as: admin })).body.retry_of).toBe(f.code);

    const before = await rowCounts(ctx.server.dbFile);
    expectError(await api.post(`/fanouts/${f.code}/retry`, { as: token("acmeWrite"), json: { statuses: ["COMPLETED"] } }), 400, "invalid", "statuses.0");
    expectError(await api.post(`/fanouts/${f.code}/retry`, { as: token("acmeWrite"), json: { group: "no such failure" } }), 422, "unprocessable", "group");
    expectError(await api.post(`/fanouts/${f.code}/retry`, { as: token("acmeWrite"), json: { colour: 1 } }), 400, "invalid", "colour");
    expectError(await api.post(`/fanouts/${f.code}/retry`, { as: token("acmeReadOnly"), json: {} }), 403, "forbidden");
    expect(await rowCounts(ctx.server.dbFile)).toEqual(before);
  });

  test("Cancel the rest ends every waiting task at once; the second is told there is nothing left", async () => {
    // No agent is connected to this server: the tasks stay PENDING.
    const issued = await api.post<Issued>("/tasks", { as: admin, json: { type: "SYNC", targets: { devices: ["fw-ams-01", "fw-ams-02"] } } });
    expect(issued.status).toBe(201);
    const first = await api.put<{ cancelled: number; fanout: FanoutDetail }>(`/fanouts/${issued.body.fanout}/cancel`, { as: token("acmeWrite") });
    expect(first.status).toBe(200);
    expect(first.body.cancelled).toBe(2);
    expect(first.body.fanout).toMatchObject({ outcome: "cancelled", counts: expect.objectContaining({ CANCELLED: 2, PENDING: 0 }) });
    expectError(await api.put(`/fanouts/${issued.body.fanout}/cancel`, { as: token("acmeWrite") }), 409, "conflict");
    const tasks = await tasksOf(issued.body.fanout);
    for (const t of tasks) expect(t).toMatchObject({ status: "CANCELLED", message: expect.stringMatching(new RegExp(`^Cancelled with the rest of fan-out ${issued.body.fanout} by admin@taskwire\\.local`)) });
  });
});
