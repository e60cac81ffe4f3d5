// The JSON API v1, write side: issuing fan-outs, validation, cancel, re-run, roles and
// tokens. The real production server; each test names its own devices and measures its own
// before/after, so no test depends on another's leftovers or on order.
import { describe, expect, test } from "vitest";
import { expectError, rowCounts, type Caller, type Issued, type TaskDetail, type TaskPage, apiServerFixture } from "../support/api";

const ctx = apiServerFixture();
const { api, admin, viewer, token } = ctx;

const HOUR = 3_600_000;
const total = async (as: Caller, query = "") => (await api.get<TaskPage>(`/tasks?per_page=1${query}`, { as })).body.total;
const detail = async (code: string, as: Caller = admin) => (await api.get<TaskDetail>(`/tasks/${code}`, { as })).body;
const issue = (json: unknown, as: Caller = admin) => api.post<Issued>("/tasks", { as, json });

/** Runs fn and asserts that no task or fan-out was created anywhere by it. */
async function expectNothingCreated(fn: () => Promise<void>) {
  const rows = (await rowCounts(ctx.server.dbFile));
  const acme = await total(admin);
  await fn();
  expect((await rowCounts(ctx.server.dbFile))).toEqual(rows);
  expect(await total(admin)).toBe(acme);
}

/** A fresh PENDING task on the given device, issued by the admin. */
async function pendingTask(device: string): Promise<string> {
  const { status, body } = await issue({ type: "SYNC", targets: { devices: [device] } });
  expect(status).toBe(201);
  return body.tasks[0].code;
}

async function finishedTask(): Promise<TaskDetail> {
  const [item] = (await api.get<TaskPage>("/tasks?status=COMPLETED&type=RESTART&per_page=1", { as: admin })).body.items;
  return detail(item.code);
}

describe("POST /tasks", () => {
  test("to named devices: 201, de-duplicated, PENDING, expiring in 24 h, listed under its fan-out", async () => {
    const before = await total(admin);
    const started = Date.now();
    const { status, body } = await issue({ type: "SYNC", targets: { devices: ["fw-ams-01", "fw-ams-02", "fw-ams-01"] } });
    expect(status).toBe(201);
    expect(body.fanout).toMatch(/^[0-9A-Za-z]{8}$/);
    expect(body.total).toBe(2);
    expect(body.tasks.map((t) => t.device).sort()).toEqual(["fw-ams-01", "fw-ams-02"]);
    for (const t of body.tasks) {
      expect(Object.keys(t).sort()).toEqual(["code", "device", "expires_at", "status"]);
      expect(t.status).toBe("PENDING");
      const ttl = Date.parse(t.expires_at) - started;
      expect(ttl).toBeGreaterThanOrEqual(24 * HOUR - 2_000);
      expect(ttl).toBeLessThanOrEqual(24 * HOUR + 60_000);
    }
    expect(await total(admin)).toBe(before + 2);

    const listed = await api.get<TaskPage>(`/tasks?fanout=${body.fanout}`, { as: admin });
    expect(listed.body.items.map((i) => i.code).sort()).toEqual(body.tasks.map((t) => t.code).sort());
    const one = await detail(body.tasks[0].code);
    expect(one).toMatchObject({ fanout: body.fanout, type: "SYNC", status: "PENDING", organization: "Acme Corp", scheduled_at: null, payload: null, message: null });
  });

  test("to an OU: every ENABLED device in it", async () => {
    const { status, body } = await issue({ type: "BACKUP", targets: { ous: ["apac"] } });
    expect(status).toBe(201);
    expect(body.total).toBe(55);
    expect(body.tasks).toHaveLength(55);
    for (const t of body.tasks) expect(t.device).toMatch(/^fw-sgp-\d\d$/);
    expect(await total(admin, `&fanout=${body.fanout}`)).toBe(55);
  });

  test("to a device and the OU that holds it: counted once", async () => {
    const { status, body } = await issue({ type: "PULL", targets: { devices: ["fw-dc-07"], ous: ["datacenter"] } });
    expect(status).toBe(201);
    expect(body.total).toBe(60);
    expect(body.tasks.filter((t) => t.device === "fw-dc-07")).toHaveLength(1);
  });

  test("to the whole organization: ENABLED devices only", async () => {
    const before = await total(admin);
    const { status, body } = await issue({ type: "RESTART", targets: { all: true } });
    expect(status).toBe(201);
    expect(body.total).toBe(70 + 65 + 55 + 60);
    const devices = body.tasks.map((t) => t.device);
    expect(new Set(devices).size).toBe(devices.length);
    expect(devices.filter((d) => d.startsWith("fw-lab-") || d.startsWith("fw-old-"))).toEqual([]);
    expect(await total(admin)).toBe(before + body.total);
  });

  test("with a payload, a time to live and a time in the future: SCHEDULED, expiring from that time", async () => {
    const at = new Date(Date.now() + 2 * HOUR);
    at.setMilliseconds(0);
    const { status, body } = await issue({ type: "PING", payload: { host: "10.0.0.1" }, targets: { devices: ["fw-nyc-03"] }, scheduled_at: at.toISOString(), ttl_seconds: 600 });
    expect(status).toBe(201);
    expect(body.tasks[0]).toMatchObject({ device: "fw-nyc-03", status: "SCHEDULED", expires_at: new Date(at.getTime() + 600_000).toISOString() });
    const d = await detail(body.tasks[0].code);
    expect(d).toMatchObject({ status: "SCHEDULED", scheduled_at: at.toISOString(), payload: { host: "10.0.0.1", count: 4 } });
  });

  test("a time with an offset is the same instant", async () => {
    const at = new Date(Date.now() + 40 * 24 * HOUR);
    at.setUTCSeconds(0, 0);
    // The same instant written as local time two hours east of UTC.
    const east = new Date(at.getTime() + 2 * HOUR).toISOString().replace(/\.000Z$/, "+02:00");
    const { status, body } = await issue({ type: "SYNC", targets: { devices: ["fw-nyc-04"] }, scheduled_at: east });
    expect(status).toBe(201);
    expect((await detail(body.tasks[0].code)).scheduled_at).toBe(at.toISOString());
  });

  test("names that do not resolve: 422 listing each with its reason, and nothing created", async () => {
    await expectNothingCreated(async () => {
      const reply = await issue({ type: "SYNC", targets: { devices: ["fw-ams-03", "fw-nope-99", "fw-lab-01", "fw-old-lis-01"], ous: ["apac", "mars"] } });
      expectError(reply, 422, "unprocessable", "targets");
      expect(reply.body.error.details?.unresolved).toEqual(
        expect.arrayContaining([
          { name: "fw-nope-99", reason: "no such device" },
          { name: "fw-lab-01", reason: "device is PENDING" },
          { name: "fw-old-lis-01", reason: "device is DISABLED" },
          { name: "mars", reason: "no such OU" },
        ]),
      );
      expect(reply.body.error.details?.unresolved).toHaveLength(4);
      for (const name of ["fw-nope-99", "fw-lab-01", "fw-old-lis-01", "mars"]) expect(reply.body.error.message).toContain(name);
    });
  });

  test("another organization's device does not resolve", async () => {
    await expectNothingCreated(async () => {
      const reply = await issue({ type: "SYNC", targets: { devices: ["gx-hq-01"] } });
      expectError(reply, 422, "unprocessable");
      expect(reply.body.error.details?.unresolved).toEqual([{ name: "gx-hq-01", reason: "no such device" }]);
    });
  });

  const ok = { type: "SYNC", targets: { devices: ["fw-ams-10"] } };
  test.each<[string, unknown, string]>([
    ["PING count 0", { type: "PING", payload: { host: "1.1.1.1", count: 0 }, targets: ok.targets }, "payload.count"],
    ["PING count 5000", { type: "PING", payload: { host: "1.1.1.1", count: 5000 }, targets: ok.targets }, "payload.count"],
    ["PING without a host", { type: "PING", payload: { count: 3 }, targets: ok.targets }, "payload.host"],
    ["PING with a bad host", { type: "PING", payload: { host: "1.1.1.1; reboot" }, targets: ok.targets }, "payload.host"],
    ["a payload for a type that takes none", { ...ok, payload: { force: true } }, "payload"],
    ["FIRMWARE_UPGRADE without a mode", { type: "FIRMWARE_UPGRADE", targets: ok.targets }, "payload.mode"],
    ["ttl_seconds 59", { ...ok, ttl_seconds: 59 }, "ttl_seconds"],
    ["ttl_seconds over 30 days", { ...ok, ttl_seconds: 30 * 86_400 + 1 }, "ttl_seconds"],
    ["ttl_seconds not a number", { ...ok, ttl_seconds: "soon" }, "ttl_seconds"],
    ["scheduled_at in the past", { ...ok, scheduled_at: new Date(Date.now() - HOUR).toISOString() }, "scheduled_at"],
    ["scheduled_at not a date", { ...ok, scheduled_at: "tomorrow" }, "scheduled_at"],
    ["scheduled_at as a number", { ...ok, scheduled_at: Date.now() + HOUR }, "scheduled_at"],
    ["an unknown type", { ...ok, type: "DANCE" }, "type"],
    ["no type", { targets: ok.targets }, "type"],
    ["no targets", { type: "SYNC" }, "targets"],
    ["empty targets", { type: "SYNC", targets: {} }, "targets"],
    ["an empty device name", { type: "SYNC", targets: { devices: [""] } }, "targets.devices.0"],
    ["an unknown target key", { type: "SYNC", targets: { groups: ["a"] } }, "targets.groups"],
    ["an unknown field", { ...ok, ttl: 600 }, "ttl"],
    ["a camelCase field", { ...ok, ttlSeconds: 600 }, "ttlSeconds"],
    ["a body that is an array", [ok], "_"],
  ])("%s: 400 naming the field, nothing created", async (_, body, field) => {
    await expectNothingCreated(async () => {
      expectError(await issue(body), 400, "invalid", field);
    });
  });

  test.each<[string, BodyInit | undefined]>([
    ["malformed JSON", '{"type": "SYNC", "targets": {"all": true}'],
    ["an empty body", undefined],
    ["a body that is not UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
  ])("%s: 400, nothing created", async (_, body) => {
    await expectNothingCreated(async () => {
      expectError(await api.post("/tasks", { as: admin, body, headers: { "content-type": "application/json" } }), 400, "invalid");
    });
  });

  test("a body over 256 KiB: 413, as a server action's form past its limit, nothing created", async () => {
    const body = JSON.stringify({ type: "SYNC", targets: { devices: ["fw-ams-01"] }, pad: "x".repeat(300 * 1024) });
    await expectNothingCreated(async () => {
      const reply = await api.post("/tasks", { as: admin, body, headers: { "content-type": "application/json" } });
      expectError(reply, 413, "too_large");
      expect(reply.body.error.message).toContain("256 KiB");
    });
  });

  test("a chunked body over 256 KiB (no Content-Length) is refused while it streams", async () => {
    const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 5) controller.enqueue(chunk);
        else controller.close();
      },
    });
    await expectNothingCreated(async () => {
      const reply = await api.post("/tasks", { as: admin, body: stream, headers: { "content-type": "application/json" } });
      expectError(reply, 413, "too_large");
      expect(reply.body.error.message).toContain("256 KiB");
    });
  });
});

describe("PUT /tasks/{code}/cancel", () => {
  test("cancels a PENDING task (200, the task, CANCELLED), and a second cancel is 409", async () => {
    const code = await pendingTask("fw-dc-01");
    const { status, body } = await api.put<TaskDetail>(`/tasks/${code}/cancel`, { as: admin });
    expect(status).toBe(200);
    expect(body).toMatchObject({ code, status: "CANCELLED", device: "fw-dc-01", message: "Cancelled by admin@taskwire.local" });
    expect(body.finished_at).not.toBeNull();
    expect(await detail(code)).toEqual(body);

    const again = await api.put(`/tasks/${code}/cancel`, { as: admin });
    expectError(again, 409, "conflict");
    expect(again.body.error.message).toContain("CANCELLED");
    expect(await detail(code)).toEqual(body);
  });

  test("cancels a SCHEDULED task", async () => {
    const { body } = await issue({ type: "BACKUP", targets: { devices: ["fw-dc-02"] }, scheduled_at: new Date(Date.now() + HOUR).toISOString() });
    const reply = await api.put<TaskDetail>(`/tasks/${body.tasks[0].code}/cancel`, { as: token("acmeWrite") });
    expect(reply.status).toBe(200);
    expect(reply.body.status).toBe("CANCELLED");
    expect(reply.body.message).toBe("Cancelled by admin@taskwire.local (token acme ci)");
  });

  test("a finished task is 409 and stays as it was", async () => {
    const done = await finishedTask();
    expectError(await api.put(`/tasks/${done.code}/cancel`, { as: admin }), 409, "conflict");
    expect(await detail(done.code)).toEqual(done);
  });

  test("an unknown, malformed or other organization's code is 404", async () => {
    const gxCode = (await api.get<TaskPage>("/tasks?status=PENDING&per_page=1", { as: token("globex") })).body.items[0].code;
    for (const code of ["ZZZZZZZZ", "nope", gxCode]) expectError(await api.put(`/tasks/${code}/cancel`, { as: admin }), 404, "not_found");
    expect((await detail(gxCode, token("globex"))).status).toBe("PENDING");
  });
});

describe("POST /tasks/{code}/rerun", () => {
  test("re-runs a finished task: 201, a new task on the same device, linked both ways", async () => {
    const original = await finishedTask();
    const { status, body } = await api.post<Issued>(`/tasks/${original.code}/rerun`, { as: admin });
    expect(status).toBe(201);
    expect(body.total).toBe(1);
    expect(body.tasks[0]).toMatchObject({ device: original.device, status: "PENDING" });
    const rerun = await detail(body.tasks[0].code);
    expect(rerun).toMatchObject({ rerun_of: original.code, type: original.type, payload: original.payload, fanout: body.fanout });
    const after = await detail(original.code);
    expect(after.reruns).toEqual([...original.reruns, { code: rerun.code, status: "PENDING" }]);
    // The finished task itself did not change.
    expect({ ...after, reruns: original.reruns }).toEqual(original);
  });

  test("re-runs a cancelled task, keeping its payload", async () => {
    const { body: issued } = await issue({ type: "PING", payload: { host: "8.8.8.8", count: 9 }, targets: { devices: ["fw-sgp-09"] } });
    const code = issued.tasks[0].code;
    await api.put(`/tasks/${code}/cancel`, { as: admin });
    const { status, body } = await api.post<Issued>(`/tasks/${code}/rerun`, { as: admin });
    expect(status).toBe(201);
    expect(await detail(body.tasks[0].code)).toMatchObject({ payload: { host: "8.8.8.8", count: 9 }, rerun_of: code, device: "fw-sgp-09" });
  });

  test("an open task cannot be re-run: 409, nothing created", async () => {
    const code = await pendingTask("fw-sgp-10");
    await expectNothingCreated(async () => {
      expectError(await api.post(`/tasks/${code}/rerun`, { as: admin }), 409, "conflict");
    });
  });

  test("an unknown or malformed code is 404", async () => {
    for (const code of ["ZZZZZZZZ", "x"]) expectError(await api.post(`/tasks/${code}/rerun`, { as: admin }), 404, "not_found");
  });
});

describe("roles", () => {
  const readOnlyCallers = () => [
    ["the READ_ONLY viewer's session", viewer],
    ["a READ_ONLY token", token("acmeReadOnly")],
    ["an ADMIN token of a READ_ONLY owner", token("viewerClaimsAdmin")],
  ] as const;

  test("READ_ONLY callers can read", async () => {
    for (const [, as] of readOnlyCallers()) expect((await api.get<TaskPage>("/tasks", { as })).status).toBe(200);
  });

  test("READ_ONLY callers get 403 on issue, cancel and re-run, and nothing changes", async () => {
    const pending = await pendingTask("fw-nyc-20");
    const done = await finishedTask();
    await expectNothingCreated(async () => {
      for (const [who, as] of readOnlyCallers()) {
        expectError(await issue({ type: "SYNC", targets: { devices: ["fw-nyc-21"] } }, as), 403, "forbidden");
        expectError(await api.put(`/tasks/${pending}/cancel`, { as }), 403, "forbidden");
        expectError(await api.post(`/tasks/${done.code}/rerun`, { as }), 403, "forbidden");
        expect((await detail(pending)).status, who).toBe("PENDING");
      }
    });
    expect(await detail(done.code)).toEqual(done);
  });

  test("a READ_WRITE token can write", async () => {
    const { status, body } = await issue({ type: "SYNC", targets: { devices: ["fw-nyc-22"] } }, token("acmeWrite"));
    expect(status).toBe(201);
    expect((await detail(body.tasks[0].code)).organization).toBe("Acme Corp");
  });

  test("a globex token writes in globex only", async () => {
    const { status, body } = await issue({ type: "SYNC", targets: { devices: ["gx-hq-01"] } }, token("globex"));
    expect(status).toBe(201);
    expect((await detail(body.tasks[0].code, token("globex"))).organization).toBe("Globex");
    expectError(await api.get(`/tasks/${body.tasks[0].code}`, { as: admin }), 404, "not_found");

    const acmeTask = await pendingTask("fw-nyc-23");
    expectError(await api.put(`/tasks/${acmeTask}/cancel`, { as: token("globex") }), 404, "not_found");
    expect((await detail(acmeTask)).status).toBe("PENDING");
  });

  test("a bogus token cannot write: 401, nothing created", async () => {
    await expectNothingCreated(async () => {
      expectError(await issue({ type: "SYNC", targets: { all: true } }, { token: `tw_${"Q".repeat(40)}` }), 401, "unauthorized");
    });
  });
});

describe("cross-site requests", () => {
  test("a cookie-borne write from another origin is 403 and creates nothing; from this origin it works", async () => {
    const json = { type: "SYNC", targets: { devices: ["fw-nyc-30"] } };
    await expectNothingCreated(async () => {
      expectError(await api.post("/tasks", { as: admin, json, headers: { origin: "https://evil.example" } }), 403, "forbidden");
      expectError(await api.post("/tasks", { as: admin, json, headers: { origin: "null" } }), 403, "forbidden");
    });
    expect((await api.post("/tasks", { as: admin, json, headers: { origin: ctx.server.url } })).status).toBe(201);
  });
});
