// What the server answers before any page or verb runs: the security headers of every
// answer, and server actions called the way no page of ours calls them — arguments of the
// wrong shape, a foreign Origin, a body over the limit, a body that does not decode. Each
// gets a 4xx or a typed refusal, never a 500, and changes nothing. The real production
// server, real fetch; action ids come from the manifest the server itself resolves them by.
import { rawRow, rawRows } from "../support/raw";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { signIn, startTestServer, type TestServer } from "../support/server";

let server: TestServer;
let cookie = "";

beforeAll(async () => {
  server = await startTestServer();
  cookie = await signIn(server.url, "admin@taskwire.local");
});
afterAll(async () => {
  await server?.stop();
});

type Manifest = { node: Record<string, { filename: string; exportedName: string }> };

/** The id the browser would send in `next-action` for an exported server action. */
function actionId(filename: string, exportedName: string): string {
  const manifest = JSON.parse(readFileSync(join(process.env.NEXT_DIST_DIR || ".next", "server", "server-reference-manifest.json"), "utf8")) as Manifest;
  // Paths are relative to the build's root: the project folder, or one above it.
  const found = Object.entries(manifest.node).find(([, a]) => (a.filename === filename || a.filename.endsWith(`/${filename}`)) && a.exportedName === exportedName);
  if (!found) throw new Error(`no server action ${exportedName} in ${filename}`);
  return found[0];
}

const ACTIONS = {
  cancelTask: () => actionId("app/(console)/tasks/actions.ts", "cancelTaskAction"),
  issueTask: () => actionId("app/(console)/tasks/actions.ts", "issueTaskAction"),
  approveDevice: () => actionId("app/(console)/devices/actions.ts", "approveDeviceAction"),
  renameDevice: () => actionId("app/(console)/devices/actions.ts", "renameDeviceAction"),
  syncAll: () => actionId("app/(console)/devices/actions.ts", "syncAllAction"),
  rotateToken: () => actionId("app/(console)/settings/actions.ts", "rotateRegistrationTokenAction"),
  autoApprove: () => actionId("app/(console)/settings/actions.ts", "setAutoApproveAction"),
  switchOrganization: () => actionId("app/(console)/actions.ts", "switchOrganization"),
};

type Answer = { status: number; type: string; text: string; result?: { ok: boolean; code?: string; message?: string } };

/** Calls an action as React's client does: POST to a page with the action's id in `next-action`. */
async function callAction(path: string, id: string, body: BodyInit, headers: Record<string, string> = {}): Promise<Answer> {
  const init: RequestInit & { duplex?: "half" } = {
    method: "POST",
    headers: { cookie, origin: server.url, "next-action": id, accept: "text/x-component", ...(typeof body === "string" ? { "content-type": "text/plain;charset=UTF-8" } : {}), ...headers },
    body,
  };
  if (body instanceof ReadableStream) init.duplex = "half";
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type") ?? "", text, result: typedResult(text) };
}

/** The action's return value in a Flight answer: the row that is a result object. */
function typedResult(text: string): Answer["result"] {
  for (const line of text.split("\n")) {
    const m = /^[0-9a-f]+:(\{.*\})$/.exec(line);
    if (!m) continue;
    const row = JSON.parse(m[1]) as Record<string, unknown>;
    if ("ok" in row) return row as Answer["result"];
  }
  return undefined;
}

/** Everything the actions under test could change, read straight from the file. */
async function snapshot() {
  const all = (sql: string) => rawRows(server.dbFile, sql);
  return {
    tasks: await all("select status, count(*) as n from tasks group by status order by status"),
    fanouts: await all("select count(*) as n from fanouts"),
    devices: await all("select id, name, status from devices order by id"),
    settings: await all("select * from org_settings order by organization_id"),
    sessions: await all("select id, active_organization_id from session order by id"),
  };
}

async function one<T>(sql: string, ...params: unknown[]): Promise<T> {
  return (await rawRow<T>(server.dbFile, sql, ...params))!;
}

const pendingTask = async () => (await one<{ code: string }>("select code from tasks t join organization o on o.id = t.organization_id where o.slug = 'acme' and t.status = 'PENDING' order by t.id limit 1")).code;
const device = (name: string) => one<{ id: string; status: string }>("select id, status from devices where name = ?", name);

/** Runs fn and asserts that the database is as it was. */
async function expectNothingChanged(fn: () => Promise<void>) {
  const before = (await snapshot());
  await fn();
  expect((await snapshot())).toEqual(before);
}

/** Not a 500, and no server insides in the answer. */
function expectClean(a: Answer) {
  expect(a.status, a.text.slice(0, 300)).toBeLessThan(500);
  expect(a.text).not.toMatch(/SQLITE|node_modules|\bat \S+ \(|TypeError|SyntaxError/);
}

function expectRefusedAsInvalid(a: Answer) {
  expectClean(a);
  if (a.status === 200) expect(a.result, a.text.slice(0, 300)).toMatchObject({ ok: false, code: "invalid" });
  else {
    expect(a.status).toBe(400);
    expect(JSON.parse(a.text)).toMatchObject({ error: { code: "invalid" } });
  }
}

describe("security headers", () => {
  const expectHeaders = (res: Response) => {
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("same-origin");
    expect(res.headers.get("content-security-policy")).toMatch(/frame-ancestors 'none'/);
  };

  test("a page: a nonce policy its own scripts carry", async () => {
    const res = await fetch(`${server.url}/tasks`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expectHeaders(res);
    const policy = res.headers.get("content-security-policy")!;
    const nonce = /'nonce-([^']+)'/.exec(policy)?.[1];
    expect(nonce).toBeTruthy();
    expect(policy).toMatch(/script-src 'self' 'nonce-[^']+' 'strict-dynamic'/);
    expect(policy).toMatch(/connect-src 'self'/);
    expect(policy).not.toMatch(/unsafe-inline|unsafe-eval/);
    const html = await res.text();
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    expect(scripts.length).toBeGreaterThan(0);
    for (const s of scripts) expect(s).toContain(`nonce="${nonce}"`);
    // A fresh nonce per answer.
    const again = (await fetch(`${server.url}/tasks`, { headers: { cookie } })).headers.get("content-security-policy");
    expect(again).not.toBe(policy);
  });

  test("an API answer", async () => {
    const res = await fetch(`${server.url}/api/v1/tasks?per_page=1`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expectHeaders(res);
    expect(res.headers.get("content-security-policy")).toMatch(/default-src 'none'/);
  });

  test("a page that does not exist", async () => {
    const res = await fetch(`${server.url}/no/such/page`, { headers: { cookie } });
    expect(res.status).toBe(404);
    expectHeaders(res);
    const nonce = /'nonce-([^']+)'/.exec(res.headers.get("content-security-policy")!)?.[1];
    const html = await res.text();
    for (const s of html.match(/<script\b[^>]*>/g) ?? []) expect(s).toContain(`nonce="${nonce}"`);
    // No inline style attribute, which the policy would refuse.
    expect(html).not.toMatch(/\sstyle="/);
  });
});

describe("server actions: arguments of the wrong shape", () => {
  test("a JSON object, a number or nothing where a task code goes: a typed refusal", async () => {
    const code = await pendingTask();
    await expectNothingChanged(async () => {
      for (const args of [[{ code }], [42], [], [[code]], [null]]) {
        expectRefusedAsInvalid(await callAction(`/tasks/${code}`, ACTIONS.cancelTask(), JSON.stringify(args)));
      }
    });
    expect((await one<{ status: string }>("select status from tasks where code = ?", code)).status).toBe("PENDING");
  });

  test("a string or an object where a form goes: a typed refusal", async () => {
    const pending = await one<{ id: string }>("select id from devices where status = 'PENDING' limit 1");
    const named = await device("fw-ams-01");
    await expectNothingChanged(async () => {
      expectRefusedAsInvalid(await callAction("/devices", ACTIONS.approveDevice(), JSON.stringify([pending.id])));
      expectRefusedAsInvalid(await callAction("/devices", ACTIONS.approveDevice(), JSON.stringify([{ id: pending.id }])));
      expectRefusedAsInvalid(await callAction("/devices", ACTIONS.renameDevice(), JSON.stringify([{ id: named.id, name: "renamed-by-json" }])));
      expectRefusedAsInvalid(await callAction("/settings", ACTIONS.autoApprove(), JSON.stringify(["$undefined", { autoApprove: "on" }])));
      expectRefusedAsInvalid(await callAction("/tasks", ACTIONS.issueTask(), JSON.stringify(["$undefined", { type: "SYNC", targetKind: "all", ttlValue: "1", ttlUnit: "hours" }])));
    });
  });

  test("arguments to an action that takes none, or not these: a typed refusal", async () => {
    await expectNothingChanged(async () => {
      expectRefusedAsInvalid(await callAction("/devices", ACTIONS.syncAll(), JSON.stringify(["now"])));
      expectRefusedAsInvalid(await callAction("/devices", ACTIONS.syncAll(), JSON.stringify(["careful", "twice"])));
      expectRefusedAsInvalid(await callAction("/settings", ACTIONS.rotateToken(), JSON.stringify([{}])));
    });
  });

  test("a bad organization switch changes nothing and lands on the task list", async () => {
    const globex = (await one<{ id: string }>("select id from organization where slug = 'globex'")).id;
    await expectNothingChanged(async () => {
      const a = await callAction("/tasks", ACTIONS.switchOrganization(), JSON.stringify([globex]));
      expectClean(a);
      expect(a.status).toBe(200);
    });
  });

  test("a body that is not React's encoding of an argument list: 400", async () => {
    const code = await pendingTask();
    await expectNothingChanged(async () => {
      for (const body of ["{{{ not json", JSON.stringify("a string"), JSON.stringify({ 0: code }), JSON.stringify(["$Q1"]), JSON.stringify(["$@1"]), ""]) {
        const a = await callAction(`/tasks/${code}`, ACTIONS.cancelTask(), body);
        expectClean(a);
        expect({ status: a.status, body: JSON.parse(a.text) }).toMatchObject({ status: 400, body: { error: { code: "invalid" } } });
      }
      const broken = await callAction(`/tasks/${code}`, ACTIONS.cancelTask(), "--x\r\nContent-Disposition: form-data; name=\"0\"\r\n\r\n[", {
        "content-type": "multipart/form-data; boundary=x",
      });
      expect(broken.status).toBe(400);
      const rootless = new FormData();
      rootless.set("1", JSON.stringify([code]));
      expect((await callAction(`/tasks/${code}`, ACTIONS.cancelTask(), rootless)).status).toBe(400);
    });
  });

  test("the forms the pages send still work (a multipart form, a code)", async () => {
    // React's encoding of (formData) and of (code): the form's fields, then the argument
    // list that points at them, last.
    const target = await device("fw-dc-03");
    const form = new FormData();
    form.set("_1_id", target.id);
    form.set("_1_name", "fw-dc-03b");
    form.set("0", JSON.stringify(["$K1"]));
    const renamed = await callAction("/devices", ACTIONS.renameDevice(), form);
    expect(renamed.result, renamed.text.slice(0, 300)).toMatchObject({ ok: true });
    expect((await one<{ name: string }>("select name from devices where id = ?", target.id)).name).toBe("fw-dc-03b");

    const code = await pendingTask();
    const cancelled = await callAction(`/tasks/${code}`, ACTIONS.cancelTask(), JSON.stringify([code]));
    expect(cancelled.result, cancelled.text.slice(0, 300)).toMatchObject({ ok: true });
    expect((await one<{ status: string }>("select status from tasks where code = ?", code)).status).toBe("CANCELLED");
  });
});

describe("server actions: a foreign Origin", () => {
  test("another site, 'null', another port, another scheme or none: 403, nothing done", async () => {
    const code = await pendingTask();
    const { port } = new URL(server.url);
    const foreign = ["https://evil.example", "null", `http://127.0.0.1:${Number(port) + 1}`, `https://127.0.0.1:${port}`];
    await expectNothingChanged(async () => {
      for (const origin of foreign) {
        const a = await callAction(`/tasks/${code}`, ACTIONS.cancelTask(), JSON.stringify([code]), { origin });
        expect({ origin, status: a.status }).toEqual({ origin, status: 403 });
        expect(JSON.parse(a.text)).toMatchObject({ error: { code: "forbidden" } });
      }
      const bare = await fetch(`${server.url}/tasks/${code}`, {
        method: "POST",
        headers: { cookie, "next-action": ACTIONS.cancelTask(), "content-type": "text/plain;charset=UTF-8" },
        body: JSON.stringify([code]),
      });
      expect(bare.status).toBe(403);
      // A form posted from another site, as a page without JavaScript would post it.
      const form = new FormData();
      form.set(`$ACTION_ID_${ACTIONS.syncAll()}`, "");
      const mpa = await fetch(`${server.url}/devices`, { method: "POST", headers: { cookie, origin: "https://evil.example" }, body: form });
      expect(mpa.status).toBe(403);
    });
    expect((await one<{ status: string }>("select status from tasks where code = ?", code)).status).toBe("PENDING");
  });
});

describe("server actions: a body over the limit", () => {
  const MB = 1024 * 1024;

  test("declared over 1 MB: 413 before reading it", async () => {
    await expectNothingChanged(async () => {
      const a = await callAction("/tasks", ACTIONS.issueTask(), JSON.stringify(["$undefined", "x".repeat(2 * MB)]));
      expect(a.status).toBe(413);
      expect(JSON.parse(a.text)).toMatchObject({ error: { code: "too_large" } });
    });
  });

  test("streamed without a length, past 1 MB: 413; a short stream still reaches the action", async () => {
    const stream = (chunks: number, size: number) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < chunks; i++) c.enqueue(new TextEncoder().encode(i === 0 ? `["${"y".repeat(size - 2)}` : "y".repeat(size)));
          c.enqueue(new TextEncoder().encode(`"]`));
          c.close();
        },
      });
    await expectNothingChanged(async () => {
      const big = await callAction("/devices", ACTIONS.syncAll(), stream(40, 64 * 1024), { "content-type": "text/plain;charset=UTF-8" });
      expect(big.status).toBe(413);
      const small = await callAction("/devices", ACTIONS.syncAll(), stream(1, 64), { "content-type": "text/plain;charset=UTF-8" });
      expect(small.result, small.text.slice(0, 300)).toMatchObject({ ok: false, code: "invalid" });
    });
  });
});

describe("behind a proxy that forwards no host", () => {
  // The browser's Origin is the public URL while the request reaches the server as
  // 127.0.0.1: the public URL counts as this site for the guard and for Next alike.
  let proxied: TestServer;
  let proxiedCookie = "";
  const PUBLIC = "http://console.example:8443";

  beforeAll(async () => {
    proxied = await startTestServer({ env: { BETTER_AUTH_URL: PUBLIC } });
    proxiedCookie = await signIn(proxied.url, "admin@taskwire.local");
  });
  afterAll(async () => {
    await proxied?.stop();
  });

  test("an action from the public URL runs", async () => {
    const res = await fetch(`${proxied.url}/devices`, {
      method: "POST",
      headers: { cookie: proxiedCookie, origin: PUBLIC, "next-action": ACTIONS.syncAll(), accept: "text/x-component", "content-type": "text/plain;charset=UTF-8" },
      body: JSON.stringify(["x"]),
    });
    const text = await res.text();
    expect(res.status, text.slice(0, 300)).toBe(200);
    expect(typedResult(text)).toMatchObject({ ok: false, code: "invalid" });
  });
});
