// The ways in that a library brings along, and access that must end the moment it is taken
// away: better-auth serves only sign-in, sign-out and the session; organizations, members
// and roles change only through Taskwire's verbs (which revoke what must be revoked), and a
// removed, demoted or signed-out person's live sockets close at once — well inside the
// minute the server's safety-net re-check would take.
import { rawRow, rawRows, rawRun } from "../support/raw";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AUTH_ROUTES, getAuth } from "../../lib/auth/auth";
import { WATCHES_PER_10S } from "../../lib/live/namespace";
import { apiClient, expectError, type TaskPage } from "../support/api";
import { closeSocketsAfterEach, GLOBEX_USER, LiveClient, liveRefusal, liveSeed, type LiveSeed } from "../support/live";
import { onPg } from "../support/databases";
import { signIn, startTestServer, type TestServer } from "../support/server";

let server: TestServer;
const seed: Partial<LiveSeed> = {};
const api = apiClient(() => server.url);
let admin = "";

beforeAll(async () => {
  server = await startTestServer({ seed: liveSeed(seed) });
  admin = await signIn(server.url, "admin@taskwire.local");
});
afterAll(async () => {
  await server?.stop();
});
closeSocketsAfterEach();

/** A fingerprint of everything a side door could change: people, organizations, roles, tokens, sessions. */
async function snapshot(): Promise<string> {
  const tables = ["user", "account", "organization", "member", "invitation", "api_tokens", "org_settings", "session"];
  const rows: string[] = [];
  for (const t of tables) rows.push(JSON.stringify(await rawRows(server.dbFile, `SELECT * FROM "${t}" ORDER BY 1`)));
  return createHash("sha256").update(rows.join("\n")).digest("hex");
}

async function dbRow<T>(sql: string, ...args: unknown[]): Promise<T> {
  return (await rawRow<T>(server.dbFile, sql, ...args))!;
}

const authHeaders = (cookie: string) => ({ cookie, origin: server.url, "content-type": "application/json" });

describe("better-auth's own endpoints", () => {
  test("every route under /api/auth answers 404, except sign-in, sign-out and the session; nothing changes", async () => {
    const endpoints = Object.values(getAuth().api as Record<string, { path?: string; options?: { method?: string | string[] } }>).filter((e) => e.path);
    expect(endpoints.length).toBeGreaterThan(25);
    const before = (await snapshot());
    let walked = 0;
    for (const e of endpoints) {
      const path = e.path!.replace(/:[a-zA-Z]+/g, "x");
      for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"]) {
        if (AUTH_ROUTES.has(`${method} ${path}`)) continue;
        const body = method === "GET" ? undefined : JSON.stringify({ organizationId: seed.orgs!.acme, memberIdOrEmail: "viewer@taskwire.local", role: "ADMIN", name: "x".repeat(200_000), slug: "Globex Corp!!", data: { name: "x" } });
        const res = await fetch(`${server.url}/api/auth${path}`, { method, headers: authHeaders(admin), body });
        expect(res.status, `${method} /api/auth${path}`).toBe(404);
        walked++;
      }
    }
    expect(walked).toBeGreaterThan(100);
    expect((await snapshot())).toBe(before);
  });

  test("the organization side doors of the probe are closed, and say nothing about other organizations", async () => {
    const probes = [
      ["POST", "/organization/remove-member", { memberIdOrEmail: "viewer@taskwire.local" }],
      ["POST", "/organization/update-member-role", { memberId: "x", role: ["READ_ONLY", "ADMIN"] }],
      ["POST", "/organization/update", { data: { slug: "Globex Corp!!", name: "x".repeat(5000) } }],
      ["POST", "/organization/invite-member", { email: "someone@example.test", role: "ADMIN" }],
      ["POST", "/organization/leave", { organizationId: seed.orgs!.acme }],
      ["POST", "/organization/set-active", { organizationId: seed.orgs!.globex }],
      ["POST", "/organization/set-active", { organizationId: "does-not-exist" }],
      ["POST", "/organization/check-slug", { slug: "globex" }],
      ["POST", "/organization/check-slug", { slug: "no-such-slug" }],
      ["GET", "/organization/get-full-organization?organizationSlug=globex", undefined],
      ["GET", "/organization/get-full-organization?organizationSlug=nope", undefined],
      ["POST", "/update-user", { name: "x".repeat(200_000) }],
      ["GET", "/list-sessions", undefined],
    ] as const;
    const before = (await snapshot());
    const answers = new Set<string>();
    for (const [method, path, body] of probes) {
      const res = await fetch(`${server.url}/api/auth${path}`, { method, headers: authHeaders(admin), body: body ? JSON.stringify(body) : undefined });
      answers.add(`${res.status} ${await res.text()}`);
    }
    // One answer for all: "exists but not yours" and "does not exist" cannot be told apart.
    expect([...answers]).toHaveLength(1);
    expect([...answers][0]).toMatch(/^404 /);
    expect((await snapshot())).toBe(before);
  });

  test("session tokens travel in the httpOnly cookie only, never in a JSON body", async () => {
    const res = await fetch(`${server.url}/api/auth/sign-in/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: server.url },
      body: JSON.stringify({ email: "viewer@taskwire.local", password: "taskwire" }),
    });
    expect(res.status).toBe(200);
    const cookie = res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const token = decodeURIComponent(/better-auth\.session_token=([^;.]+)/.exec(cookie)![1]);
    expect(res.headers.getSetCookie().join(";")).toMatch(/HttpOnly/i);
    const signInBody = await res.text();
    expect(JSON.parse(signInBody).user.email).toBe("viewer@taskwire.local");
    expect(signInBody).not.toContain(token);

    const session = await fetch(`${server.url}/api/auth/get-session`, { headers: { cookie } });
    const sessionBody = await session.text();
    expect(JSON.parse(sessionBody).user.email).toBe("viewer@taskwire.local");
    expect(sessionBody).not.toContain(token);
  });
});

describe("members", () => {
  test("inviting answers the same whether or not the email has an account on this instance, and adds nobody", async () => {
    const membersBefore = await api.get<{ items: { email: string }[] }>("/members", { as: { cookie: admin } });
    const known = await api.post<Record<string, unknown>>("/invitations", { as: { cookie: admin }, json: { email: GLOBEX_USER, role: "ADMIN" }, headers: { origin: server.url } });
    const unknown = await api.post<Record<string, unknown>>("/invitations", { as: { cookie: admin }, json: { email: "nobody-here@example.test", role: "ADMIN" }, headers: { origin: server.url } });
    expect(known.status).toBe(201);
    expect(unknown.status).toBe(201);
    expect(Object.keys(known.body).sort()).toEqual(Object.keys(unknown.body).sort());
    expect(known.body.url).toMatch(new RegExp(`^${server.url}/invite/inv_[0-9A-Za-z]{32}$`));
    // Nobody joins without accepting.
    const membersAfter = await api.get<{ items: { email: string }[] }>("/members", { as: { cookie: admin } });
    expect(membersAfter.body.items).toEqual(membersBefore.body.items);
    const pending = await api.get<{ items: { email: string }[] }>("/invitations", { as: { cookie: admin } });
    expect(pending.body.items.map((i) => i.email).sort()).toEqual([GLOBEX_USER, "nobody-here@example.test"]);
  });

  test("a removed member's tokens stay revoked when they are added again", async () => {
    // Gina (of Globex) is made a member of Acme here as a fixture, with a token of her own.
    const userId = (await dbRow<{ id: string }>('SELECT id FROM "user" WHERE email = ?', GLOBEX_USER)).id;
    const addGina = (id: string, role: string) =>
      rawRun(server.dbFile, "INSERT INTO member (id, organization_id, user_id, role, created_at) VALUES (?, ?, ?, ?, ?)", id, seed.orgs!.acme, userId, role, Date.now());
    await addGina("m-gina-acme", "READ_WRITE");
    const token = await mintToken(userId, "READ_WRITE");
    expect((await api.get<TaskPage>("/tasks", { as: { token } })).status).toBe(200);

    const removed = await api.request("DELETE", "/members/m-gina-acme", { as: { cookie: admin }, headers: { origin: server.url } });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect((await api.get("/tasks", { as: { token } })).status).toBe(401);
    expect((await dbRow<{ revoked_at: number | null }>("SELECT revoked_at FROM api_tokens WHERE user_id = ? AND organization_id = ?", userId, seed.orgs!.acme)).revoked_at).not.toBeNull();

    // Back in, even as ADMIN: the old token stays dead, and cannot read the registration token.
    await addGina("m-gina-acme-2", "ADMIN");
    expectError(await api.get("/organization", { as: { token } }), 401, "unauthorized");
  });

  test("roles are only ever one of Taskwire's three, through its own verb", async () => {
    const members = await api.get<{ items: { id: string; email: string; role: string }[] }>("/members", { as: { cookie: admin } });
    const viewer = members.body.items.find((m) => m.email === "viewer@taskwire.local")!;
    for (const role of ["owner", "admin", ["READ_ONLY", "ADMIN"], "READ_ONLY,ADMIN"]) {
      // A 400 naming the field, as every bad field of the API is.
      expectError(await api.put(`/members/${viewer.id}`, { as: { cookie: admin }, json: { role }, headers: { origin: server.url } }), 400, "invalid", "role");
    }
    expect((await dbRow<{ role: string }>("SELECT role FROM member WHERE id = ?", viewer.id)).role).toBe("READ_ONLY");
  });
});

/** An API token for a user, written as the Settings page would (hash only). */
async function mintToken(userId: string, role: string): Promise<string> {
  const { randomCode, sha256 } = await import("../../lib/crypto");
  const secret = `tw_${randomCode(40)}`;
  await rawRun(
    server.dbFile,
    "INSERT INTO api_tokens (id, organization_id, user_id, name, prefix, token_hash, role, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    crypto.randomUUID(),
    seed.orgs!.acme,
    userId,
    "gina",
    secret.slice(0, 8),
    sha256(secret),
    role,
    Date.now(),
  );
  return secret;
}

describe("access ends at once", () => {
  // The server's safety-net re-check runs once a minute here: a disconnect within seconds
  // can only come from the change itself.
  const PROMPTLY_MS = 15_000;

  async function viewerSocket() {
    const cookie = await signIn(server.url, "viewer@taskwire.local");
    const client = await LiveClient.as(server.url, cookie);
    expect(await client.watch({ org: true })).toEqual({ ok: true });
    const disconnected = new Promise<string>((resolve, reject) => {
      client.socket.once("disconnect", resolve);
      setTimeout(() => reject(new Error("still connected")), PROMPTLY_MS).unref();
    });
    return { cookie, client, disconnected };
  }

  const viewerMemberId = async () =>
    (await api.get<{ items: { id: string; email: string }[] }>("/members", { as: { cookie: admin } })).body.items.find((m) => m.email === "viewer@taskwire.local")!.id;

  test("demoting or promoting a member closes their live sockets; they reconnect with the new role", async () => {
    const { cookie, disconnected } = await viewerSocket();
    const r = await api.put(`/members/${await viewerMemberId()}`, { as: { cookie: admin }, json: { role: "READ_WRITE" }, headers: { origin: server.url } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await disconnected).toBe("io server disconnect");
    const back = await LiveClient.as(server.url, cookie);
    expect(await back.watch({ org: true })).toEqual({ ok: true });
    await api.put(`/members/${await viewerMemberId()}`, { as: { cookie: admin }, json: { role: "READ_ONLY" }, headers: { origin: server.url } });
  });

  test("an ADMIN ending a member's sessions closes their sockets and signs them out", async () => {
    const { cookie, disconnected } = await viewerSocket();
    const r = await api.request<{ ended: number }>("DELETE", `/members/${await viewerMemberId()}/sessions`, { as: { cookie: admin }, headers: { origin: server.url } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.ended).toBeGreaterThanOrEqual(1);
    expect(await disconnected).toBe("io server disconnect");
    expect(await liveRefusal(server.url, { cookie, origin: server.url })).toBe("unauthorized");
  });

  test("removing a member closes their live sockets; the page's next connection sees no organization", async () => {
    const { cookie, disconnected } = await viewerSocket();
    const r = await api.request("DELETE", `/members/${await viewerMemberId()}`, { as: { cookie: admin }, headers: { origin: server.url } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await disconnected).toBe("io server disconnect");
    // The viewer belonged to Acme only: with no organization left, the channel refuses them.
    expect(await liveRefusal(server.url, { cookie, origin: server.url })).toBe("unauthorized");
  });
});

describe("the live channel's limits and origin", () => {
  test("a flood of watches from one viewer is refused past the limit, and the server keeps answering others", async () => {
    const client = await LiveClient.as(server.url, admin);
    const acks = await Promise.all(Array.from({ length: 1000 }, () => client.watch({ org: true }, 60_000)));
    const ok = acks.filter((a) => a.ok).length;
    expect(ok).toBeGreaterThan(0);
    // At most the limit per 10 s window; on a crawling machine the burst may span two windows.
    expect(ok).toBeLessThanOrEqual(2 * WATCHES_PER_10S);
    expect(acks.filter((a) => !a.ok && a.error === "rate_limited")).toHaveLength(1000 - ok);
    expect((await api.get("/tasks", { as: { cookie: admin } })).status).toBe(200);
  });

  test(onPg
    ? "several nodes speak websocket only: a long-polling handshake is refused, saying why, and opens nothing"
    : "one node on SQLite answers a long-polling handshake too (an agent that starts with Socket.IO's default transport)", async () => {
    const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, { headers: { cookie: admin, origin: server.url } });
    if (onPg) {
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ code: 0, message: "Transport unknown" });
    } else {
      expect(res.status).toBe(200);
      const open = JSON.parse((await res.text()).slice(1)) as { sid: string; upgrades: string[] };
      expect(open.sid).toMatch(/\S/);
      expect(open.upgrades).toEqual(["websocket"]);
    }
  });

  test("the Origin must be this site's scheme, host and port; a forged X-Forwarded-Host does not help", async () => {
    const u = new URL(server.url);
    for (const origin of [`https://${u.host}`, `http://${u.hostname}:${Number(u.port) + 1}`, "http://evil.example", "null"]) {
      expect(await liveRefusal(server.url, { cookie: admin, origin }), origin).toBe("forbidden_origin");
    }
    expect(await liveRefusal(server.url, { cookie: admin, origin: "http://evil.example", "x-forwarded-host": "evil.example" })).toBe("forbidden_origin");
  });
});
