// The JSON API v1, read side: authentication, the task list and its filters, a task's
// detail, organization scoping and the organization endpoint. The real production server.
import { get as httpGet, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { TASK_STATUSES, TASK_TYPES } from "../../rules/tasks";
import { expectError, type OrganizationView, type TaskDetail, type TaskItem, type TaskPage, apiServerFixture } from "../support/api";

const ctx = apiServerFixture();
const { api, admin, viewer, token } = ctx;

const ITEM_KEYS = ["code", "created_at", "device", "expires_at", "fanout", "message", "organization", "scheduled_at", "status", "type", "updated_at"];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function expectWellFormed(item: TaskItem) {
  expect(Object.keys(item).sort()).toEqual(ITEM_KEYS);
  expect(item.code).toMatch(/^[0-9A-Za-z]{8}$/);
  expect(TASK_TYPES).toContain(item.type);
  expect(TASK_STATUSES).toContain(item.status);
  for (const t of [item.created_at, item.updated_at, item.expires_at]) expect(t).toMatch(ISO);
  if (item.scheduled_at !== null) expect(item.scheduled_at).toMatch(ISO);
}

describe("authentication", () => {
  test("no caller is 401 on every endpoint, in JSON", async () => {
    for (const path of ["/tasks", "/tasks/ABCDEFGH", "/organization"]) expectError(await api.get(path), 401, "unauthorized");
    expectError(await api.post("/tasks", { json: { type: "SYNC", targets: { all: true } } }), 401, "unauthorized");
    expectError(await api.put("/tasks/ABCDEFGH/cancel"), 401, "unauthorized");
    expectError(await api.post("/tasks/ABCDEFGH/rerun"), 401, "unauthorized");
  });

  test("a bogus or malformed bearer token is 401", async () => {
    expectError(await api.get("/tasks", { as: { token: `tw_${"x".repeat(40)}` } }), 401, "unauthorized");
    expectError(await api.get("/tasks", { headers: { authorization: "Bearer nonsense" } }), 401, "unauthorized");
    expectError(await api.get("/tasks", { headers: { authorization: "Basic YWRtaW46dGFza3dpcmU=" } }), 401, "unauthorized");
  });

  test("an Authorization header is the only credential once sent: a good cookie does not rescue a bad token", async () => {
    expect((await api.get<TaskPage>("/tasks", { as: admin })).status).toBe(200);
    const reply = await api.get("/tasks", { headers: { cookie: admin.cookie, authorization: `Bearer tw_${"y".repeat(40)}` } });
    expectError(reply, 401, "unauthorized");
  });

  test("the session cookie and a bearer token both work, scoped to their organization", async () => {
    const bySession = await api.get<TaskPage>("/tasks?per_page=5", { as: admin });
    const byToken = await api.get<TaskPage>("/tasks?per_page=5", { as: token("acmeReadOnly") });
    const byGlobex = await api.get<TaskPage>("/tasks?per_page=5", { as: token("globex") });
    expect(bySession.status).toBe(200);
    expect(byToken.body).toEqual(bySession.body);
    expect(new Set(bySession.body.items.map((i) => i.organization))).toEqual(new Set(["Acme Corp"]));
    expect(new Set(byGlobex.body.items.map((i) => i.organization))).toEqual(new Set(["Globex"]));
    expect(byGlobex.body.total).toBeLessThan(bySession.body.total);
  });

  test("answers are not cached", async () => {
    expect((await api.get("/tasks", { as: admin })).headers.get("cache-control")).toBe("no-store");
  });
});

describe("GET /tasks", () => {
  test("defaults to page 1 of 30, newest first, with snake_case items", async () => {
    const { status, body } = await api.get<TaskPage>("/tasks", { as: admin });
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(["history", "items", "page", "pages", "per_page", "total"]);
    // How far back history goes: the default retention, and the demo's oldest task.
    expect(body.history).toEqual({ kept_days: 180, oldest_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect({ page: body.page, per_page: body.per_page, count: body.items.length }).toEqual({ page: 1, per_page: 30, count: 30 });
    expect(body.total).toBeGreaterThan(1000);
    expect(body.pages).toBe(Math.ceil(body.total / 30));
    body.items.forEach(expectWellFormed);
    expect(new Set(body.items.map((i) => i.code)).size).toBe(30);
  });

  test("pages are consecutive slices of one order, the last one partial, past the end empty", async () => {
    const wide = await api.get<TaskPage>("/tasks?per_page=14", { as: admin });
    const p1 = await api.get<TaskPage>("/tasks?per_page=7&page=1", { as: admin });
    const p2 = await api.get<TaskPage>("/tasks?per_page=7&page=2", { as: admin });
    expect([...p1.body.items, ...p2.body.items].map((i) => i.code)).toEqual(wide.body.items.map((i) => i.code));
    expect(p2.body).toMatchObject({ page: 2, per_page: 7, total: wide.body.total, pages: Math.ceil(wide.body.total / 7) });

    const perPage = 100;
    const pages = Math.ceil(wide.body.total / perPage);
    const last = await api.get<TaskPage>(`/tasks?per_page=${perPage}&page=${pages}`, { as: admin });
    expect(last.body.pages).toBe(pages);
    expect(last.body.items).toHaveLength(wide.body.total - (pages - 1) * perPage);
    const beyond = await api.get<TaskPage>(`/tasks?per_page=${perPage}&page=${pages + 1}`, { as: admin });
    expect(beyond.status).toBe(200);
    expect(beyond.body).toMatchObject({ items: [], total: wide.body.total, page: pages + 1 });
  });

  test("filters by type, status, device substring and fan-out, and combines them", async () => {
    const all = (await api.get<TaskPage>("/tasks", { as: admin })).body.total;

    const ping = await api.get<TaskPage>("/tasks?type=PING&per_page=100", { as: admin });
    expect(ping.body.total).toBeGreaterThan(0);
    expect(ping.body.total).toBeLessThan(all);
    expect(new Set(ping.body.items.map((i) => i.type))).toEqual(new Set(["PING"]));

    const pending = await api.get<TaskPage>("/tasks?status=PENDING&per_page=100", { as: admin });
    expect(pending.body.total).toBeGreaterThanOrEqual(6);
    expect(new Set(pending.body.items.map((i) => i.status))).toEqual(new Set(["PENDING"]));

    const ams = await api.get<TaskPage>("/tasks?device=ams-0&per_page=100", { as: admin });
    expect(ams.body.total).toBeGreaterThan(0);
    expect(ams.body.total).toBeLessThan(all);
    for (const i of ams.body.items) expect(i.device).toMatch(/^fw-ams-0\d$/);

    const both = await api.get<TaskPage>("/tasks?type=SYNC&status=COMPLETED&per_page=100", { as: admin });
    expect(both.body.total).toBeGreaterThan(0);
    for (const i of both.body.items) expect([i.type, i.status]).toEqual(["SYNC", "COMPLETED"]);
    const syncs = (await api.get<TaskPage>("/tasks?type=SYNC", { as: admin })).body.total;
    expect(both.body.total).toBeLessThan(syncs);

    const nothing = await api.get<TaskPage>("/tasks?device=no-such-device", { as: admin });
    expect(nothing.body).toEqual({ items: [], total: 0, page: 1, per_page: 30, pages: 1, history: expect.objectContaining({ kept_days: 180 }) });
  });

  test("filters by fan-out: exactly that fan-out's tasks", async () => {
    // The seed's wide fan-outs reach about half of a fleet; find one among the SYNC tasks.
    const page = await api.get<TaskPage>("/tasks?per_page=100", { as: admin });
    const sizes = new Map<string, number>();
    for (const i of page.body.items) if (i.fanout) sizes.set(i.fanout, (sizes.get(i.fanout) ?? 0) + 1);
    const [fanout] = [...sizes.entries()].sort((a, b) => b[1] - a[1])[0];
    const byFanout = await api.get<TaskPage>(`/tasks?fanout=${fanout}&per_page=100`, { as: admin });
    expect(byFanout.body.total).toBeGreaterThanOrEqual(sizes.get(fanout)!);
    expect(new Set(byFanout.body.items.map((i) => i.fanout))).toEqual(new Set([fanout]));
    expect(new Set(byFanout.body.items.map((i) => i.type)).size).toBe(1);
  });

  test("an empty filter value counts as absent", async () => {
    const plain = await api.get<TaskPage>("/tasks", { as: admin });
    const empty = await api.get<TaskPage>("/tasks?type=&status=&device=", { as: admin });
    expect(empty.body.total).toBe(plain.body.total);
  });

  test.each([
    ["type=FOO", "type"],
    ["type=sync", "type"],
    ["status=DONE", "status"],
    ["fanout=abc", "fanout"],
    ["per_page=0", "per_page"],
    ["per_page=101", "per_page"],
    ["per_page=ten", "per_page"],
    ["per_page=1.5", "per_page"],
    ["page=0", "page"],
    ["page=-1", "page"],
    ["page=99999999999999999999", "page"],
    [`device=${"x".repeat(200)}`, "device"],
    ["stauts=PENDING", "stauts"],
    ["type=SYNC&type=PING", "type"],
  ])("?%s is 400 naming %s", async (query, field) => {
    expectError(await api.get(`/tasks?${query}`, { as: admin }), 400, "invalid", field);
  });
});

describe("GET /tasks/{code}", () => {
  test("returns the task with its detail fields, consistent with its list item", async () => {
    const [item] = (await api.get<TaskPage>("/tasks?status=COMPLETED&type=PING&per_page=1", { as: admin })).body.items;
    const { status, body } = await api.get<TaskDetail>(`/tasks/${item.code}`, { as: admin });
    expect(status).toBe(200);
    expect(body).toMatchObject(item);
    expect(Object.keys(body).sort()).toEqual([...ITEM_KEYS, "finished_at", "payload", "reruns", "rerun_of", "started_at"].sort());
    expect(body.payload).toEqual({ host: "1.1.1.1", count: 4 });
    expect(body.started_at).toMatch(ISO);
    expect(body.finished_at).toMatch(ISO);
    expect(Date.parse(body.finished_at!)).toBeGreaterThanOrEqual(Date.parse(body.started_at!));
    expect(body.rerun_of).toBeNull();
    expect(body.reruns).toEqual([]);
    expect(body.fanout).toMatch(/^[0-9A-Za-z]{8}$/);
  });

  test("an open task has no start or finish yet", async () => {
    const [item] = (await api.get<TaskPage>("/tasks?status=SCHEDULED&per_page=1", { as: admin })).body.items;
    const { body } = await api.get<TaskDetail>(`/tasks/${item.code}`, { as: admin });
    expect(body).toMatchObject({ status: "SCHEDULED", started_at: null, finished_at: null, payload: null });
    expect(Date.parse(body.scheduled_at!)).toBeGreaterThan(Date.now());
  });

  test("another organization's task is 404 from the active organization, and 200 from its own", async () => {
    const [gx] = (await api.get<TaskPage>("/tasks?status=COMPLETED&per_page=1", { as: token("globex") })).body.items;
    expect(gx.organization).toBe("Globex");
    expect(gx.fanout).not.toBeNull();
    expectError(await api.get(`/tasks/${gx.code}`, { as: admin }), 404, "not_found");
    expectError(await api.get(`/tasks/${gx.code}`, { as: token("acmeWrite") }), 404, "not_found");
    const own = await api.get<TaskDetail>(`/tasks/${gx.code}`, { as: token("globex") });
    expect(own.status).toBe(200);
    expect(own.body.code).toBe(gx.code);
    // Nor does the list filter reach across: the globex fan-out is empty from acme.
    const cross = await api.get<TaskPage>(`/tasks?fanout=${gx.fanout}`, { as: admin });
    expect(cross.body.total).toBe(0);
  });

  test.each(["abc", "ABCDEFGHI", "ABCD-FGH", "%27%20or%201%3D1"])("a malformed code (%s) is 404", async (code) => {
    expectError(await api.get(`/tasks/${code}`, { as: admin }), 404, "not_found");
  });

  test("a well-formed code nobody has is 404", async () => {
    expectError(await api.get("/tasks/ZZZZZZZZ", { as: admin }), 404, "not_found");
  });
});

describe("GET /organization", () => {
  test("an ADMIN sees the registration token", async () => {
    const { status, body } = await api.get<OrganizationView>("/organization", { as: admin });
    expect(status).toBe(200);
    expect(body).toEqual({
      slug: "acme",
      name: "Acme Corp",
      auto_approve: false,
      registration_token: expect.stringMatching(/^reg_[0-9A-Za-z]{32}$/),
      retention: { task_days: 180, audit_days: 730 },
    });
  });

  test("anyone else gets it as null", async () => {
    for (const as of [viewer, token("acmeReadOnly"), token("acmeWrite"), token("viewerClaimsAdmin")]) {
      const { status, body } = await api.get<OrganizationView>("/organization", { as });
      expect(status).toBe(200);
      expect(body).toEqual({ slug: "acme", name: "Acme Corp", auto_approve: false, registration_token: null, retention: { task_days: 180, audit_days: 730 } });
    }
  });

  test("a token answers for its own organization", async () => {
    const { body } = await api.get<OrganizationView>("/organization", { as: token("globex") });
    expect(body).toMatchObject({ slug: "globex", name: "Globex", registration_token: null });
  });
});

test("an unknown endpoint under /api/v1 is a JSON 404", async () => {
  expectError(await api.get("/nope", { as: admin }), 404, "not_found");
  expectError(await api.get(""), 404, "not_found");
  expectError(await api.get("/tasks/ABCDEFGH/nope"), 404, "not_found");
});

test("a method an endpoint does not serve is a JSON 405 whose Allow is what OPTIONS names", async () => {
  const cases: [string, string, string][] = [
    ["DELETE", "/tasks", "GET, POST, HEAD, OPTIONS"],
    ["GET", "/tasks/ABCDEFGH/cancel", "PUT, OPTIONS"],
    ["PUT", "/tasks/ABCDEFGH/rerun", "POST, OPTIONS"],
    ["POST", "/organization", "GET, HEAD, OPTIONS"],
    ["POST", "/members/someone", "PUT, DELETE, OPTIONS"],
  ];
  for (const [method, path, allow] of cases) {
    const reply = await api.request(method, path, { as: admin });
    expectError(reply, 405, "method_not_allowed");
    expect(reply.headers.get("allow")).toBe(allow);
    const options = await fetch(`${ctx.server.url}/api/v1${path}`, { method: "OPTIONS" });
    expect(options.headers.get("allow")).toBe(allow);
  }
  // HEAD is GET's: where there is no GET, there is no HEAD.
  const head = await fetch(`${ctx.server.url}/api/v1/tasks/ABCDEFGH/cancel`, { method: "HEAD" });
  expect(head.status).toBe(405);
  expect(head.headers.get("allow")).toBe("PUT, OPTIONS");
});

describe("the API's own router", () => {
  const url = (path: string) => `${ctx.server.url}/api/v1${path}`;
  const bearer = () => ({ authorization: `Bearer ${token("acmeReadOnly").token}` });

  test("a trailing slash is sent to the path without it, the query kept", async () => {
    const res = await fetch(url("/tasks/?per_page=1"), { redirect: "manual", headers: bearer() });
    expect(res.status).toBe(308);
    expect(res.headers.get("location")).toBe("/api/v1/tasks?per_page=1");
  });

  test("OPTIONS names what a route serves; HEAD is GET without its body", async () => {
    const options = await fetch(url("/tasks"), { method: "OPTIONS" });
    expect(options.status).toBe(204);
    expect(options.headers.get("allow")).toBe("GET, POST, HEAD, OPTIONS");
    expect((await fetch(url("/tasks/ABCDEFGH/cancel"), { method: "OPTIONS" })).headers.get("allow")).toBe("PUT, OPTIONS");
    const get = await fetch(url("/tasks?per_page=1"), { headers: bearer() });
    const head = await fetch(url("/tasks?per_page=1"), { method: "HEAD", headers: bearer() });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toContain("application/json");
    expect(head.headers.get("content-length")).toBe(String(Buffer.byteLength(await get.text())));
    expect(await head.text()).toBe("");
  });

  test("a method no route knows is a JSON 405 naming what the route serves", async () => {
    const res = await api.request("PROPFIND", "/tasks", { as: admin });
    expectError(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("GET, POST, HEAD, OPTIONS");
  });

  test("parameters are decoded; one that cannot be is a JSON 404", async () => {
    const { body } = await api.get<TaskPage>("/tasks?per_page=1", { as: admin });
    const code = body.items[0].code;
    const escaped = `%${code.charCodeAt(0).toString(16)}${code.slice(1)}`;
    expect((await api.get<TaskDetail>(`/tasks/${escaped}`, { as: admin })).body.code).toBe(code);
    expectError(await api.get("/tasks/%E0%A4%A", { as: admin }), 404, "not_found");
  });

  test("an answer of a kilobyte or more is compressed for a client that accepts it; a small one says its length", async () => {
    const big = await fetch(url("/tasks?per_page=100"), { headers: { ...bearer(), "accept-encoding": "gzip" } });
    expect(big.headers.get("content-encoding")).toBe("gzip");
    expect(((await big.json()) as TaskPage).items).toHaveLength(100);
    const plain = await fetch(url("/tasks?per_page=100"), { headers: { ...bearer(), "accept-encoding": "identity" } });
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(((await plain.json()) as TaskPage).items).toHaveLength(100);
    const small = await fetch(url("/tasks/ZZZZZZZZ"), { headers: { ...bearer(), "accept-encoding": "gzip" } });
    expect(small.status).toBe(404);
    expect(small.headers.get("content-encoding")).toBeNull();
    expect(Number(small.headers.get("content-length"))).toBe(Buffer.byteLength(await small.text()));
  });

  /** An answer as it came over the wire: its headers and its bytes, not decoded. */
  const wire = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const req = httpGet(url(path), { headers: { ...bearer(), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("error", reject);
    });

  test("a whole answer comes compressed in the encoding the client prefers, its length the compressed one", async () => {
    const { body: plain } = await wire("/tasks?per_page=100", {});
    expect(JSON.parse(plain.toString()).items).toHaveLength(100);
    const decoders = { br: brotliDecompressSync, gzip: gunzipSync, deflate: inflateSync };
    for (const [accept, chosen] of [
      ["gzip, deflate, br", "br"],
      ["br;q=0.5, gzip", "gzip"],
      ["deflate", "deflate"],
      ["*", "br"],
    ] as const) {
      const res = await wire("/tasks?per_page=100", { "accept-encoding": accept });
      expect(res.status, accept).toBe(200);
      expect(res.headers["content-encoding"], accept).toBe(chosen);
      expect(res.headers.vary, accept).toBe("Accept-Encoding");
      expect(Number(res.headers["content-length"]), accept).toBe(res.body.length);
      expect(res.body.length, accept).toBeLessThan(plain.length);
      // The same page, item for item (each read answers its own `now`, so not byte for byte).
      expect(JSON.parse(decoders[chosen](res.body).toString()).items.map((t: TaskItem) => t.code), accept).toEqual(JSON.parse(plain.toString()).items.map((t: TaskItem) => t.code));
    }
    for (const accept of ["identity", "compress", "br;q=0, gzip;q=0, deflate;q=0"]) {
      const res = await wire("/tasks?per_page=100", { "accept-encoding": accept });
      expect(res.headers["content-encoding"], accept).toBeUndefined();
      expect(Number(res.headers["content-length"]), accept).toBe(res.body.length);
    }
    // HEAD: GET's headers but the length, which only compressing would tell; no body.
    const head = await new Promise<IncomingHttpHeaders>((resolve, reject) =>
      httpRequest(url("/tasks?per_page=100"), { method: "HEAD", headers: { ...bearer(), "accept-encoding": "br" } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.headers));
      })
        .on("error", reject)
        .end(),
    );
    expect(head["content-encoding"]).toBe("br");
    expect(head.vary).toBe("Accept-Encoding");
    expect(head["content-length"]).toBeUndefined();
  });

  test("a streamed answer (an export) is compressed as it goes", async () => {
    const { body: list } = await api.get<{ items: { code: string; total: number }[] }>("/fanouts?per_page=100", { as: admin });
    const fanout = list.items.find((f) => f.total >= 10)!;
    const res = await wire(`/fanouts/${fanout.code}/tasks.csv`, { "accept-encoding": "br" });
    expect(res.status).toBe(200);
    expect(res.headers["content-encoding"]).toBe("br");
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    const lines = brotliDecompressSync(res.body).toString().trim().split("\r\n");
    expect(lines[0]).toBe("code,device,ous,status,started_at,finished_at,duration_ms,message");
    expect(lines.length - 1).toBe(fanout.total);
  });

  test("every answer carries the API's security headers", async () => {
    for (const res of [await fetch(url("/tasks"), { headers: bearer() }), await fetch(url("/nope")), await fetch(url("/tasks"), { method: "OPTIONS" })]) {
      expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });
});
