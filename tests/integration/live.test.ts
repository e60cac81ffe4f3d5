// The browser live channel ("/live", lib/live) against the real production server: who may
// connect, what `watch` accepts, that each organization's watchers see only their own
// transitions, a task's own room, and catching up after a reconnect (the client's contract
// is a re-read; the stream resumes). Clients are real socket.io-client sockets carrying the
// session cookie and the page's Origin, as a browser tab's would.
import { rawRun } from "../support/raw";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { apiClient, type Issued, type TaskDetail, type TaskPage } from "../support/api";
import { closeSocketsAfterEach, GLOBEX_USER, LiveClient, liveRefusal, liveSeed, until, type LiveSeed } from "../support/live";
import { signIn, startTestServer, type TestServer } from "../support/server";

let server: TestServer;
const seed: Partial<LiveSeed> = {};
const api = apiClient(() => server.url);
/** The admin's session: its active organization is Acme Corp. */
const admin = { cookie: "" };
/** A member of Globex only. */
const gina = { cookie: "" };
/** The viewer, READ_ONLY in Acme Corp: a second watcher of acme. */
const viewer = { cookie: "" };

beforeAll(async () => {
  // Sessions of open sockets are re-read every 300 ms here (a minute by default).
  server = await startTestServer({ seed: liveSeed(seed), env: { TASKWIRE_LIVE_RECHECK_MS: "300" } });
  admin.cookie = await signIn(server.url, "admin@taskwire.local");
  gina.cookie = await signIn(server.url, GLOBEX_USER);
  viewer.cookie = await signIn(server.url, "viewer@taskwire.local");
});
afterAll(async () => {
  await server?.stop();
});
closeSocketsAfterEach();

const token = (org: "acme" | "globex") => ({ token: seed.tokens![org] });

const PAYLOADS: Record<string, unknown> = { PING: { host: "1.1.1.1" } };

/** Issues one task through the API and returns its code. */
async function issue(org: "acme" | "globex", device: string, type = "SYNC"): Promise<string> {
  const r = await api.post<Issued>("/tasks", { as: token(org), json: { type, payload: PAYLOADS[type], targets: { devices: [device] } } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.tasks[0].code;
}

async function cancel(org: "acme" | "globex", code: string): Promise<void> {
  const r = await api.put<TaskDetail>(`/tasks/${code}/cancel`, { as: token(org) });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

/**
 * Everything the server sent this client before now has arrived once an acknowledgement
 * sent after it does: one connection, in order. The probe is a `watch` that is refused.
 */
async function drained(client: LiveClient): Promise<void> {
  expect(await client.watch({ barrier: true })).toEqual({ ok: false, error: "invalid" });
}

describe("the handshake", () => {
  test("a session on the console's own origin connects", async () => {
    const client = await LiveClient.as(server.url, admin.cookie);
    expect(client.socket.connected).toBe(true);
  });

  test("no session, or one that is not valid, is refused as unauthorized", async () => {
    expect(await liveRefusal(server.url, { origin: server.url })).toBe("unauthorized");
    expect(await liveRefusal(server.url, { origin: server.url, cookie: "better-auth.session_token=forged.value" })).toBe("unauthorized");
  });

  test("a foreign, missing or malformed Origin is refused even with a good session", async () => {
    const port = new URL(server.url).port;
    for (const origin of ["https://evil.example", `http://localhost.evil.example:${port}`, "http://127.0.0.1:1", "null", "not a url"]) {
      expect(await liveRefusal(server.url, { cookie: admin.cookie, origin }), origin).toBe("forbidden_origin");
    }
    expect(await liveRefusal(server.url, { cookie: admin.cookie })).toBe("forbidden_origin");
  });
});

describe("watch", () => {
  test("malformed requests are answered invalid and join nothing", async () => {
    const code = await issue("acme", "fw-ams-02");
    const client = await LiveClient.as(server.url, admin.cookie);
    const malformed: unknown[] = [
      null,
      "org",
      42,
      [],
      {},
      { org: false },
      { org: "true" },
      { org: true, extra: 1 },
      { org: true, task: code },
      { task: "short" },
      { task: `${code}9` },
      { task: 12345678 },
      { task: "abc-defg" },
    ];
    for (const request of malformed) expect(await client.watch(request), JSON.stringify(request)).toEqual({ ok: false, error: "invalid" });

    // A watcher that did join sees the next change; the malformed one has seen none.
    const control = await LiveClient.as(server.url, admin.cookie);
    expect(await control.watch({ org: true })).toEqual({ ok: true });
    await cancel("acme", code);
    await control.waitForTask(code, "CANCELLED");
    await drained(client);
    expect(client.received).toHaveLength(0);
    expect(client.socket.connected).toBe(true);
  });

  test("a watch without an acknowledgement callback still joins, and nothing breaks", async () => {
    const client = await LiveClient.as(server.url, admin.cookie);
    client.socket.emit("watch", { org: true });
    client.socket.emit("watch", "garbage");
    client.socket.emit("unwatch", { nonsense: true });
    await drained(client);
    const code = await issue("acme", "fw-ams-03");
    await client.waitForTask(code, "PENDING");
  });

  test("another organization's task, or one that does not exist, is not found", async () => {
    const globexCode = await issue("globex", "gx-hq-01");
    const acme = await LiveClient.as(server.url, admin.cookie);
    expect(await acme.watch({ task: globexCode })).toEqual({ ok: false, error: "not_found" });
    expect(await acme.watch({ task: "ZZZZZZZZ" })).toEqual({ ok: false, error: "not_found" });

    // Its owner does get the change; the refused watcher never does.
    const owner = await LiveClient.as(server.url, gina.cookie);
    expect(await owner.watch({ task: globexCode })).toEqual({ ok: true });
    await cancel("globex", globexCode);
    await owner.waitForTask(globexCode, "CANCELLED");
    await drained(acme);
    expect(acme.rows().map((r) => r.code)).not.toContain(globexCode);
  });

  test("signing out closes the session's sockets at once, and the next connection is refused", async () => {
    const cookie = await signIn(server.url, "admin@taskwire.local");
    const client = await LiveClient.as(server.url, cookie);
    expect(await client.watch({ org: true })).toEqual({ ok: true });
    const disconnected = new Promise<string>((resolve) => client.socket.once("disconnect", resolve));
    const out = await fetch(`${server.url}/api/auth/sign-out`, { method: "POST", headers: { cookie, origin: server.url, "content-type": "application/json" }, body: "{}" });
    expect(out.status).toBe(200);
    // No watch, no re-check: the sign-out itself closes it.
    expect(await disconnected).toBe("io server disconnect");
    expect(await liveRefusal(server.url, { cookie, origin: server.url })).toBe("unauthorized");
  });

  test("a session ended outside the console is disconnected by the server's re-check, without any watch", async () => {
    const cookie = await signIn(server.url, "viewer@taskwire.local");
    const client = await LiveClient.as(server.url, cookie);
    expect(await client.watch({ org: true })).toEqual({ ok: true });
    const disconnected = new Promise<string>((resolve) => client.socket.once("disconnect", resolve));
    // An operator's tool deletes the session row: no event announces it.
    const token = decodeURIComponent(/better-auth\.session_token=([^;.]+)/.exec(cookie)![1]);
    expect(await rawRun(server.dbFile, "DELETE FROM session WHERE token = ?", token)).toBe(1);
    expect(await disconnected).toBe("io server disconnect");
  });

  test("sessions that cannot be read (the database failing) are not taken for ended: open sockets stay, a new one is told `internal`, then let in once they read again", async () => {
    const client = await LiveClient.as(server.url, admin.cookie);
    expect(await client.watch({ org: true })).toEqual({ ok: true });
    let closed: string | undefined;
    client.socket.once("disconnect", (reason) => (closed = reason));
    // What a failing database looks like to a read of sessions: the table is not there.
    await rawRun(server.dbFile, "ALTER TABLE session RENAME TO session_away");
    try {
      expect(await liveRefusal(server.url, { cookie: admin.cookie, origin: server.url })).toBe("internal");
      // Several re-checks (every 300 ms here) pass meanwhile.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(closed).toBeUndefined();
      expect(client.socket.connected).toBe(true);
    } finally {
      await rawRun(server.dbFile, "ALTER TABLE session_away RENAME TO session");
    }
    const again = await LiveClient.as(server.url, admin.cookie);
    expect(again.socket.connected).toBe(true);
    expect(closed).toBeUndefined();
  });
});

describe("organizations", () => {
  test("each organization's watchers see only their own organization's transitions", async () => {
    const acme = await LiveClient.as(server.url, admin.cookie);
    const globex = await LiveClient.as(server.url, gina.cookie);
    expect(await acme.watch({ org: true })).toEqual({ ok: true });
    expect(await globex.watch({ org: true })).toEqual({ ok: true });

    const acmeCodes = [await issue("acme", "fw-nyc-01"), await issue("acme", "fw-sgp-01", "PING")];
    const globexCodes = [await issue("globex", "gx-store-01"), await issue("globex", "gx-hq-02", "BACKUP")];
    await cancel("acme", acmeCodes[0]);
    await cancel("globex", globexCodes[0]);
    await acme.waitForTask(acmeCodes[0], "CANCELLED");
    await globex.waitForTask(globexCodes[0], "CANCELLED");
    await drained(acme);
    await drained(globex);

    const acmeRows = acme.rows();
    const globexRows = globex.rows();
    expect(new Set(acmeRows.map((r) => r.organization))).toEqual(new Set(["Acme Corp"]));
    expect(new Set(globexRows.map((r) => r.organization))).toEqual(new Set(["Globex"]));
    expect(acmeRows.map((r) => r.code)).toEqual(expect.arrayContaining(acmeCodes));
    expect(globexRows.map((r) => r.code)).toEqual(expect.arrayContaining(globexCodes));
    for (const c of globexCodes) expect(acmeRows.map((r) => r.code)).not.toContain(c);
    for (const c of acmeCodes) expect(globexRows.map((r) => r.code)).not.toContain(c);

    // Fan-out summaries follow the same rule (single-task fan-outs travel too; the list shows only wider ones).
    const fanoutsOf = (client: LiveClient) => new Set(client.received.flatMap((r) => r.patch.fanouts.map((f) => f.code)));
    const acmeFanouts = new Set(acmeRows.map((r) => r.fanout));
    const globexFanouts = new Set(globexRows.map((r) => r.fanout));
    for (const f of fanoutsOf(acme)) expect(globexFanouts.has(f)).toBe(false);
    for (const f of fanoutsOf(globex)) expect(acmeFanouts.has(f)).toBe(false);
  });

  test("a patch carries the task as the list shows it: the latest state, in full", async () => {
    const client = await LiveClient.as(server.url, admin.cookie);
    expect(await client.watch({ org: true })).toEqual({ ok: true });
    const code = await issue("acme", "fw-dc-01", "PING");
    await cancel("acme", code);
    const patch = await client.waitForTask(code, "CANCELLED");
    expect(patch.truncated).toBe(false);
    const row = patch.tasks.find((t) => t.code === code)!;
    const detail = (await api.get<TaskDetail>(`/tasks/${code}`, { as: token("acme") })).body;
    expect(row).toMatchObject({
      code,
      type: "PING",
      status: "CANCELLED",
      device: "fw-dc-01",
      organization: "Acme Corp",
      fanout: detail.fanout,
      message: detail.message,
      createdAt: detail.created_at,
      updatedAt: detail.updated_at,
      finishedAt: detail.finished_at,
    });
  });
});

describe("a task's own room", () => {
  test("watching one task delivers that task's changes and no other's", async () => {
    const watched = await issue("acme", "fw-ams-04");
    const other = await issue("acme", "fw-ams-05");
    const client = await LiveClient.as(server.url, viewer.cookie);
    expect(await client.watch({ task: watched })).toEqual({ ok: true });

    await cancel("acme", other);
    await cancel("acme", watched);
    const patch = await client.waitForTask(watched, "CANCELLED");
    expect(patch).toMatchObject({ truncated: false, fanouts: [] });
    expect(patch.tasks).toHaveLength(1);
    await drained(client);
    expect(new Set(client.rows().map((r) => r.code))).toEqual(new Set([watched]));
  });

  test("unwatch leaves the task's room", async () => {
    const code = await issue("acme", "fw-ams-06");
    const client = await LiveClient.as(server.url, admin.cookie);
    expect(await client.watch({ task: code })).toEqual({ ok: true });
    client.socket.emit("unwatch", { task: code });
    await drained(client);
    // A second watcher proves the change was sent, to those still watching.
    const control = await LiveClient.as(server.url, viewer.cookie);
    expect(await control.watch({ task: code })).toEqual({ ok: true });
    await cancel("acme", code);
    await control.waitForTask(code, "CANCELLED");
    await drained(client);
    expect(client.received).toHaveLength(0);
  });
});

describe("catching up", () => {
  test("after a reconnect the stream resumes, and a re-read shows what changed while away", async () => {
    const client = await LiveClient.as(server.url, admin.cookie);
    expect(await client.watch({ org: true })).toEqual({ ok: true });
    const before = await issue("acme", "fw-nyc-02");
    await client.waitForTask(before, "PENDING");
    const stale = client.latest().get(before)!;

    client.socket.disconnect();
    // Changes while away; another watcher of acme proves they were sent (and missed).
    const control = await LiveClient.as(server.url, viewer.cookie);
    expect(await control.watch({ org: true })).toEqual({ ok: true });
    await cancel("acme", before);
    const away = await issue("acme", "fw-nyc-03");
    await control.waitForTask(before, "CANCELLED");
    await control.waitForTask(away, "PENDING");

    const seen = client.received.length;
    client.socket.connect();
    await until("the client to reconnect", () => client.socket.connected);
    expect(await client.watch({ org: true })).toEqual({ ok: true });
    await drained(client);
    // The stream does not replay: what happened while away is only in a re-read.
    expect(client.rows(seen).map((r) => r.code)).not.toContain(away);
    expect(client.latest().get(before)).toEqual(stale);

    // The re-read (what the page's onCatchUp does) shows the truth...
    const reread = (await api.get<TaskPage>("/tasks?per_page=5", { as: admin })).body.items;
    expect(reread.find((t) => t.code === before)?.status).toBe("CANCELLED");
    expect(reread[0]).toMatchObject({ code: away, status: "PENDING" });
    // ...and new changes stream again.
    const after = await issue("acme", "fw-nyc-04");
    await client.waitForTask(after, "PENDING", { from: seen });
  });

  test("a page read before a patch left, watching after it, is told it is stale; one read after it is not", async () => {
    const control = await LiveClient.as(server.url, viewer.cookie);
    expect(await control.watch({ org: true })).toEqual({ ok: true });
    const code = await issue("acme", "fw-ams-07");
    await control.waitForTask(code, "PENDING");
    // A page read before the cancel, whose socket watches only once the cancel's patch has left.
    const readBefore = Date.now();
    await cancel("acme", code);
    const patch = await control.waitForTask(code, "CANCELLED");
    expect(Date.parse(patch.at)).toBeGreaterThan(readBefore);
    const late = await LiveClient.as(server.url, admin.cookie);
    expect(await late.watch({ org: true, since: readBefore })).toEqual({ ok: true, stale: true });
    expect(await late.watch({ task: code, since: readBefore })).toEqual({ ok: true, stale: true });
    expect(await late.watch({ fanout: patch.tasks[0].fanout, since: readBefore })).toEqual({ ok: true, stale: true });

    // A page read once the patch had left missed nothing; another organization's page neither.
    const readAfter = Date.now();
    const fresh = await LiveClient.as(server.url, admin.cookie);
    expect(await fresh.watch({ org: true, since: readAfter })).toEqual({ ok: true, stale: false });
    const globex = await LiveClient.as(server.url, gina.cookie);
    expect(await globex.watch({ org: true, since: readBefore })).toEqual({ ok: true, stale: false });
    // The cancel wrote an audit row: the audit page read before it is stale, one read after it is not.
    expect(await late.watch({ audit: true, since: readBefore })).toEqual({ ok: true, stale: true });
    expect(await fresh.watch({ audit: true, since: readAfter })).toEqual({ ok: true, stale: false });
    for (const since of [-1, 1.5, "1", null]) expect(await fresh.watch({ org: true, since }), String(since)).toEqual({ ok: false, error: "invalid" });
  });

  test("a restarted server: the client reconnects on its own, watches again and patches resume", async () => {
    const client = await LiveClient.as(server.url, admin.cookie, { reconnection: true });
    // As the page's hook does: every (re)connection watches again.
    const acks: unknown[] = [];
    client.socket.on("connect", () => void client.watch({ org: true }).then((a) => acks.push(a)));
    expect(await client.watch({ org: true })).toEqual({ ok: true });

    await server.restart();
    await until("the client to reconnect and watch", () => acks.length > 0, 20_000);
    expect(acks).toEqual([{ ok: true }]);
    const code = await issue("acme", "fw-sgp-02");
    await client.waitForTask(code, "PENDING");
  }, 60_000);
});
