// A fan-out's own room on the browser live channel (lib/live/namespace.ts): a fan-out page
// watches `{ fanout: code }` and receives that fan-out's summary and its changed tasks only,
// never another fan-out's rows; another organization's fan-out, or a missing one, is not found.
// Real production server, real socket.io-client sockets carrying the session cookie.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { apiClient, type Issued, type TaskDetail } from "../support/api";
import { closeSocketsAfterEach, GLOBEX_USER, LiveClient, liveSeed, type LiveSeed } from "../support/live";
import { signIn, startTestServer, type TestServer } from "../support/server";

let server: TestServer;
const seed: Partial<LiveSeed> = {};
const api = apiClient(() => server.url);
const cookies = { admin: "", gina: "" };

beforeAll(async () => {
  server = await startTestServer({ seed: liveSeed(seed) });
  cookies.admin = await signIn(server.url, "admin@taskwire.local");
  cookies.gina = await signIn(server.url, GLOBEX_USER);
});
afterAll(async () => {
  await server?.stop();
});
closeSocketsAfterEach();

const token = (org: "acme" | "globex") => ({ token: seed.tokens![org] });

async function issue(org: "acme" | "globex", devices: string[]): Promise<Issued> {
  const r = await api.post<Issued>("/tasks", { as: token(org), json: { type: "SYNC", targets: { devices } } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

async function cancel(org: "acme" | "globex", code: string): Promise<void> {
  const r = await api.put<TaskDetail>(`/tasks/${code}/cancel`, { as: token(org) });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

/** Everything sent to this client before now has arrived once a refused watch's answer does. */
async function drained(client: LiveClient): Promise<void> {
  expect(await client.watch({ barrier: true })).toEqual({ ok: false, error: "invalid" });
}

describe("watching one fan-out", () => {
  test("its watcher receives its summary and its tasks, and none of another fan-out's rows", async () => {
    const a = await issue("acme", ["fw-ams-02", "fw-ams-03"]);
    const b = await issue("acme", ["fw-nyc-01", "fw-sgp-01"]);
    const client = await LiveClient.as(server.url, cookies.admin);
    expect(await client.watch({ fanout: a.fanout })).toEqual({ ok: true });

    // B moves first and A after it, so any patch of B's reaches the socket before A's last.
    await cancel("acme", b.tasks[0].code);
    await cancel("acme", b.tasks[1].code);
    await cancel("acme", a.tasks[0].code);
    const patch = await client.waitForTask(a.tasks[0].code, "CANCELLED");
    expect(patch.fanouts.map((f) => f.code)).toEqual([a.fanout]);
    await cancel("acme", a.tasks[1].code);
    await client.waitForPatch("A's summary with both cancelled", (p) => p.fanouts.some((f) => f.code === a.fanout && f.counts.CANCELLED === 2));
    await drained(client);

    const rows = client.rows();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(new Set(rows.map((r) => r.fanout))).toEqual(new Set([a.fanout]));
    expect(rows.map((r) => r.code)).not.toContain(b.tasks[0].code);
    expect(rows.map((r) => r.code)).not.toContain(b.tasks[1].code);
    expect(client.received.flatMap((r) => r.patch.fanouts.map((f) => f.code)).every((c) => c === a.fanout)).toBe(true);
  });

  test("another organization's fan-out, or one that does not exist, is not found; a malformed code is invalid", async () => {
    const acme = await issue("acme", ["fw-ams-04", "fw-ams-05"]);
    const globex = await issue("globex", ["gx-hq-01", "gx-hq-02"]);
    const gina = await LiveClient.as(server.url, cookies.gina);
    expect(await gina.watch({ fanout: acme.fanout })).toEqual({ ok: false, error: "not_found" });
    const admin = await LiveClient.as(server.url, cookies.admin);
    expect(await admin.watch({ fanout: globex.fanout })).toEqual({ ok: false, error: "not_found" });
    const missing = acme.fanout === "ZZZZZZZZ" ? "YYYYYYYY" : "ZZZZZZZZ";
    expect(await admin.watch({ fanout: missing })).toEqual({ ok: false, error: "not_found" });
    for (const request of [{ fanout: "short" }, { fanout: 12345678 }, { fanout: acme.fanout, org: true }]) {
      expect(await admin.watch(request), JSON.stringify(request)).toEqual({ ok: false, error: "invalid" });
    }

    // Neither refused watcher hears the fan-out move.
    const control = await LiveClient.as(server.url, cookies.admin);
    expect(await control.watch({ fanout: acme.fanout })).toEqual({ ok: true });
    await cancel("acme", acme.tasks[0].code);
    await control.waitForTask(acme.tasks[0].code, "CANCELLED");
    await drained(gina);
    await drained(admin);
    expect(gina.received).toHaveLength(0);
    expect(admin.received).toHaveLength(0);
  });
});
