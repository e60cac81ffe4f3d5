// The JSON API's edges: keys named like Object's own properties, numbers and times as a
// person types them, the one-year bound on scheduled times, the Origin rule for cookie-borne
// writes, a token whose last-use write fails, and a database locked by another process. The
// real production server on a real file; the lock and the failing write are made on that file
// from outside, as an operator's tool or a full disk would.
import Database from "better-sqlite3";
import { onPg } from "../support/databases";
import { failingWrites, rawRow } from "../support/raw";
import { describe, expect, test } from "vitest";
import { apiServerFixture, expectError, rowCounts, type Caller, type Issued, type TaskDetail, type TaskPage } from "../support/api";
import { waitFor } from "../support/agents";

const ctx = apiServerFixture();
const { api, admin, token } = ctx;

const OWN = ["__proto__", "constructor", "toString", "hasOwnProperty"];
const DAY = 24 * 3_600_000;

/** Runs fn and asserts that no task or fan-out was created anywhere by it. */
async function expectNothingCreated(fn: () => Promise<void>) {
  const before = (await rowCounts(ctx.server.dbFile));
  await fn();
  expect((await rowCounts(ctx.server.dbFile))).toEqual(before);
}

/** A POST with a raw JSON text, so that keys such as __proto__ reach the server as written. */
const postRaw = (text: string, as: Caller = token("acmeWrite")) => api.post<Issued>("/tasks", { as, body: text, headers: { "content-type": "application/json" } });
const issue = (json: unknown, as: Caller = token("acmeWrite"), headers?: Record<string, string>) => api.post<Issued>("/tasks", { as, json, headers });

describe("keys named like Object's own properties", () => {
  test.each(OWN)("a top-level %s in the body: 400 naming it, nothing created", async (key) => {
    await expectNothingCreated(async () => {
      const reply = await postRaw(`{${JSON.stringify(key)}: 1, "type": "SYNC", "targets": {"devices": ["fw-ams-01"]}}`);
      expectError(reply, 400, "invalid", key);
      expect(reply.body.error.message).toBe(`${key}: Unknown field`);
      expect(reply.body.error.fields).toEqual({ [key]: ["Unknown field"] });
    });
  });

  test.each(OWN)("%s inside targets and inside a payload: 400 naming where", async (key) => {
    await expectNothingCreated(async () => {
      const inTargets = await postRaw(`{"type": "SYNC", "targets": {"devices": ["fw-ams-01"], ${JSON.stringify(key)}: {"all": true}}}`);
      expectError(inTargets, 400, "invalid", `targets.${key}`);
      const inPayload = await postRaw(`{"type": "PING", "payload": {"host": "1.1.1.1", ${JSON.stringify(key)}: 5}, "targets": {"devices": ["fw-ams-01"]}}`);
      expectError(inPayload, 400, "invalid", "payload");
      expect(inPayload.body.error.message).toBe(`payload: PING takes no ${key}`);
    });
  });

  test.each(OWN)("GET /tasks?%s=1: 400 naming the parameter", async (key) => {
    const reply = await api.get<TaskPage>(`/tasks?${encodeURIComponent(key)}=1&per_page=1`, { as: token("acmeReadOnly") });
    expectError(reply, 400, "invalid", key);
    expect(reply.body.error.message).toBe(`${key}: Unknown query parameter`);
  });

  test("wherever it stands among other parameters, each one is named", async () => {
    const lost = await api.get<TaskPage>("/tasks?per_page=1&status=PENDING&__proto__=x", { as: token("acmeReadOnly") });
    expectError(lost, 400, "invalid", "__proto__");
    expect(lost.body.error.fields).toEqual(JSON.parse('{"__proto__": ["Unknown query parameter"]}'));
    const twice = await api.get<TaskPage>("/tasks?page=1&page=2&constructor=x", { as: token("acmeReadOnly") });
    expectError(twice, 400, "invalid");
    expect(twice.body.error.fields).toEqual({ page: ["Given more than once"], constructor: ["Unknown query parameter"] });
  });
});

describe("numbers as a person types them", () => {
  test.each([true, [5], "0x10", "1e3", "", null])("PING count %j: 400 on payload.count, nothing created", async (count) => {
    await expectNothingCreated(async () => {
      const reply = await issue({ type: "PING", payload: { host: "1.1.1.1", count }, targets: { devices: ["fw-ams-02"] } });
      expectError(reply, 400, "invalid", "payload.count");
      expect(reply.body.error.fields!["payload.count"]).toEqual(["Count is a whole number"]);
    });
  });

  test("PING count as digits in a string is the number", async () => {
    const { status, body } = await issue({ type: "PING", payload: { host: "1.1.1.1", count: " 7 " }, targets: { devices: ["fw-ams-02"] } });
    expect(status).toBe(201);
    const task = await api.get<TaskDetail>(`/tasks/${body.tasks[0].code}`, { as: token("acmeReadOnly") });
    expect(task.body.payload).toEqual({ host: "1.1.1.1", count: 7 });
  });

  test.each([true, [600], "6e2", "0x258"])("ttl_seconds %j: 400 on ttl_seconds", async (ttl) => {
    await expectNothingCreated(async () => {
      expectError(await issue({ type: "SYNC", targets: { devices: ["fw-ams-02"] }, ttl_seconds: ttl }), 400, "invalid", "ttl_seconds");
    });
  });

  test.each([true, 1_900_000_000_000, ["2030-01-01T00:00:00Z"]])("scheduled_at %j: 400 on scheduled_at", async (at) => {
    await expectNothingCreated(async () => {
      expectError(await issue({ type: "SYNC", targets: { devices: ["fw-ams-02"] }, scheduled_at: at }), 400, "invalid", "scheduled_at");
    });
  });
});

describe("a field the API does not know", () => {
  test("is a 400 naming it as it was sent, on every route that takes a body", async () => {
    const schedule = { name: "unknown keys", type: "SYNC", targets: { all: true }, cron: "0 3 * * *", timezone: "UTC" };
    for (const [reply, field] of [
      [await api.post("/schedules", { as: token("acmeWrite"), json: { ...schedule, catchUp: true } }), "catchUp"],
      [await api.post("/schedules", { as: token("acmeWrite"), json: { ...schedule, targets: { all: true, groups: ["a"] } } }), "targets.groups"],
      [await api.put("/organization/retention", { as: admin, json: { task_days: 30, audit_days: 365, keepForever: true } }), "keepForever"],
      [await issue({ type: "SYNC", targets: { devices: ["fw-ams-01"] }, ttlSeconds: 60 }), "ttlSeconds"],
    ] as const) {
      expectError(reply, 400, "invalid", field);
      expect(reply.body.error.fields![field]).toEqual(["Unknown field"]);
      expect(reply.body.error.message).toBe(`${field}: Unknown field`);
    }
  });
});

describe("how far ahead a task may be scheduled", () => {
  test.each(["9999-12-31T23:59:59Z", "+275760-09-13T00:00:00.000Z", new Date(Date.now() + 366 * DAY).toISOString()])(
    "scheduled_at %s: 400 on scheduled_at, nothing created",
    async (at) => {
      await expectNothingCreated(async () => {
        const reply = await issue({ type: "SYNC", targets: { devices: ["fw-ams-03"] }, scheduled_at: at, ttl_seconds: 30 * 86_400 });
        expectError(reply, 400, "invalid", "scheduled_at");
        expect(reply.body.error.message).toBe("scheduled_at: The scheduled time is at most 365 days ahead");
      });
    },
  );

  test("364 days ahead with the longest time to live: SCHEDULED, expiring 30 days after", async () => {
    const at = new Date(Date.now() + 364 * DAY);
    at.setUTCMilliseconds(0);
    const { status, body } = await issue({ type: "SYNC", targets: { devices: ["fw-ams-03"] }, scheduled_at: at.toISOString(), ttl_seconds: 30 * 86_400 });
    expect(status).toBe(201);
    expect(body.tasks[0]).toMatchObject({ status: "SCHEDULED", expires_at: new Date(at.getTime() + 30 * DAY).toISOString() });
  });
});

describe("cookie-borne writes and the Origin header", () => {
  const json = { type: "SYNC", targets: { devices: ["fw-ams-04"] } };
  const url = () => new URL(ctx.server.url);
  const refused: [string, () => Record<string, string>][] = [
    ["another scheme", () => ({ origin: `https://${url().host}` })],
    ["another port", () => ({ origin: `http://${url().hostname}:${Number(url().port) + 1}` })],
    ["another host name for the same machine", () => ({ origin: `http://localhost:${url().port}` })],
    ["the literal null", () => ({ origin: "null" })],
    ["another site", () => ({ origin: "https://evil.example" })],
    ["another site naming itself in X-Forwarded-Host", () => ({ origin: "http://evil.example", "x-forwarded-host": "evil.example" })],
    ["another site with a forged X-Forwarded-Proto and Host", () => ({ origin: "https://evil.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" })],
    ["a malformed origin", () => ({ origin: "not a url" })],
  ];

  test.each(refused)("%s: 403, nothing created", async (_name, headers) => {
    await expectNothingCreated(async () => {
      expectError(await issue(json, admin, headers()), 403, "forbidden");
    });
  });

  test("this site's own origin passes; no Origin at all (curl) passes; a token needs none", async () => {
    expect((await issue(json, admin, { origin: ctx.server.url })).status).toBe(201);
    expect((await issue(json, admin)).status).toBe(201);
    expect((await issue(json, token("acmeWrite"), { origin: "https://evil.example" })).status).toBe(201);
  });
});

describe("a read never needs a write", () => {
  test("a token whose last-use write fails still reads; the use is recorded once writes work again", async () => {
    const file = ctx.server.dbFile;
    const lastUsed = async () => (await rawRow<{ at: number | null }>(file, "select last_used_at as at from api_tokens where name = 'acme dashboard'"))!.at;
    // A full disk, as far as api_tokens is concerned.
    const writable = await failingWrites(file, "api_tokens", "UPDATE", "database or disk is full");
    try {
      // Read only now: the uses by the tests above are flushed within TOKEN_USE_FLUSH_MS, and a
      // flush that lands between this read and the failing writes would move the time.
      const before = await lastUsed();
      const started = Date.now();
      for (let i = 0; i < 3; i++) {
        const reply = await api.get<TaskPage>("/tasks?per_page=1", { as: token("acmeReadOnly") });
        expect(reply.status, JSON.stringify(reply.body)).toBe(200);
        expect(reply.body.items).toHaveLength(1);
      }
      expect(await lastUsed()).toBe(before);
      await writable();
      await waitFor("the token's last use to be recorded", async () => ((await lastUsed()) ?? 0) >= started, 30_000);
    } finally {
      await writable();
    }
  });
});

// SQLite's write lock, held by another process (PostgreSQL has no such lock).
describe.skipIf(onPg)("a database locked by another process", () => {
  test("reads answer promptly, writes answer 503 at once and change nothing; after the lock the same write succeeds", async () => {
    const write = { type: "SYNC", targets: { devices: ["fw-ams-05"] } };
    const outside = new Database(ctx.server.dbFile);
    const timed = async <T>(fn: () => Promise<T>) => {
      const t0 = performance.now();
      const value = await fn();
      return { value, ms: performance.now() - t0 };
    };
    const before = (await rowCounts(ctx.server.dbFile));
    const lockedAt = performance.now();
    outside.exec("begin immediate");
    const timings: { read: number[]; write: number[] } = { read: [], write: [] };
    try {
      // The lock is held for at least 5 s, as a backup or a stuck tool would; meanwhile the
      // server keeps answering. Before, every request stalled behind a 5 s busy wait.
      while (performance.now() - lockedAt < 5_000) {
        const [w, r] = await Promise.all([timed(() => issue(write)), timed(() => api.get<TaskPage>("/tasks?per_page=5", { as: token("acmeReadOnly") }))]);
        expectError(w.value, 503, "unavailable");
        expect(w.value.body.error.message).toBe("The database is busy; try again shortly");
        expect(w.value.headers.get("retry-after")).toBe("1");
        expect(r.value.status).toBe(200);
        expect(r.value.body.items).toHaveLength(5);
        timings.write.push(w.ms);
        timings.read.push(r.ms);
      }
      expect((await rowCounts(ctx.server.dbFile))).toEqual(before);
    } finally {
      outside.exec("rollback");
      outside.close();
    }
    console.log(`during a 5 s outside lock: ${timings.write.length} rounds; slowest write ${Math.round(Math.max(...timings.write))} ms, slowest read ${Math.round(Math.max(...timings.read))} ms`);
    // The busy timeout is 50 ms: a request that writes costs that, not the length of the lock.
    // The bounds leave room for a busy machine and still fail a server that waits seconds.
    expect(Math.max(...timings.write)).toBeLessThan(2_000);
    expect(Math.max(...timings.read)).toBeLessThan(2_000);
    expect(timings.write.length).toBeGreaterThanOrEqual(3);

    const after = await issue(write);
    expect(after.status).toBe(201);
    expect((await rowCounts(ctx.server.dbFile))).toEqual({ tasks: (await before).tasks + 1, fanouts: (await before).fanouts + 1 });
  });
});

describe("text the database cannot store, and numbers past any row's", () => {
  const NUL = "\u0000";

  test("U+0000 or half a surrogate pair in a body: 400 naming the field, nothing created", async () => {
    await expectNothingCreated(async () => {
      expectError(await issue({ type: "SYNC", targets: { devices: ["fw-ams-01", `fw-ams-01${NUL}`] } }), 400, "invalid", "targets.devices.1");
      // Escaped in the JSON text, as a client's serializer writes a lone surrogate.
      expectError(await postRaw(String.raw`{"type": "SYNC", "targets": {"devices": ["fw-\ud800"]}}`), 400, "invalid", "targets.devices.0");
    });
    const schedule = await api.post("/schedules", { as: token("acmeWrite"), json: { name: `nightly${NUL}`, type: "SYNC", targets: { all: true }, cron: "0 3 * * *", timezone: "UTC" } });
    expectError(schedule, 400, "invalid", "name");
  });

  test("in a query: 400 naming the parameter", async () => {
    expectError(await api.get(`/tasks?device=${encodeURIComponent(NUL)}`, { as: token("acmeReadOnly") }), 400, "invalid", "device");
    expectError(await api.get(`/fanouts?by=${encodeURIComponent(NUL)}`, { as: token("acmeReadOnly") }), 400, "invalid", "by");
    expectError(await api.get(`/audit?actor=${encodeURIComponent(NUL)}`, { as: admin }), 400, "invalid", "actor");
  });

  test("an enrollment's registration token: refused as input, not a 500", async () => {
    const reply = await api.post("/agent/enroll", { json: { registration_token: NUL, name: "fw-nul", version: "1.0.0" } });
    expectError(reply, 400, "invalid", "registration_token");
  });

  test("a row's number past 2^53: 400, where a number in range that names no row is 404", async () => {
    expectError(await api.get("/schedules/9007199254740993", { as: token("acmeReadOnly") }), 400, "invalid");
    expectError(await api.get("/schedules/99999999999999999999", { as: token("acmeReadOnly") }), 400, "invalid");
    // Past what a 32-bit column holds: a row's number like any other (tests/unit/row-ids.test.ts).
    expectError(await api.get("/schedules/3000000000", { as: token("acmeReadOnly") }), 404, "not_found");
    expectError(await api.get("/schedules/9007199254740991", { as: token("acmeReadOnly") }), 404, "not_found");
    expectError(await api.get("/audit?after=9007199254740993", { as: admin }), 400, "invalid", "after");
  });
});
