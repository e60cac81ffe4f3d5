// A small client for the JSON API tests: real fetch against the real server, every answer
// checked to be JSON (an HTML error page or a stack trace fails the test that got it).
import { randomUUID } from "node:crypto";
import { rawRow } from "./raw";
import { afterAll, beforeAll, expect } from "vitest";
import { seedTestDemo, signIn, startTestServer, type TestServer } from "./server";
import type { Db } from "../../db/client";
import { apiTokens } from "../../db/schema";
import { withTransaction } from "../../db/transaction";
import type { Role } from "../../rules/roles";
import { randomCode, sha256 } from "../../lib/crypto";
import { createApiToken } from "../../lib/orgs/orgs";

export type Caller = { cookie: string } | { token: string } | null;

export type ApiErrorBody = {
  error: { code: string; message: string; fields?: Record<string, string[]>; details?: { unresolved?: { name: string; reason: string }[] } };
};
export type TaskItem = {
  code: string;
  type: string;
  status: string;
  device: string;
  organization: string;
  fanout: string | null;
  scheduled_at: string | null;
  created_at: string;
  updated_at: string;
  expires_at: string;
  message: string | null;
};
export type TaskDetail = TaskItem & {
  payload: Record<string, unknown> | null;
  started_at: string | null;
  finished_at: string | null;
  rerun_of: string | null;
  reruns: { code: string; status: string }[];
};
export type TaskPage = { items: TaskItem[]; total: number; page: number; per_page: number; pages: number; history: { kept_days: number | null; oldest_at: string | null } };
export type Issued = { fanout: string; total: number; tasks: { code: string; device: string; status: string; expires_at: string }[] };
export type OrganizationView = { slug: string; name: string; auto_approve: boolean; registration_token: string | null; retention: { task_days: number | null; audit_days: number } };

export type Reply<T> = { status: number; body: T & ApiErrorBody; headers: Headers };

type RequestOptions = { as?: Caller; json?: unknown; body?: BodyInit; headers?: Record<string, string> };

export function apiClient(baseUrl: () => string) {
  async function call<T>(method: string, path: string, opts: RequestOptions = {}): Promise<Reply<T>> {
    const headers = new Headers(opts.headers);
    if (opts.as && "cookie" in opts.as) headers.set("cookie", opts.as.cookie);
    if (opts.as && "token" in opts.as) headers.set("authorization", `Bearer ${opts.as.token}`);
    let body = opts.body;
    if (opts.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(opts.json);
    }
    const init: RequestInit & { duplex?: "half" } = { method, headers, body };
    if (body instanceof ReadableStream) init.duplex = "half";
    const res = await fetch(`${baseUrl()}/api/v1${path}`, init);
    const text = await res.text();
    expect(res.headers.get("content-type"), `${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`).toMatch(/^application\/json/);
    return { status: res.status, body: JSON.parse(text) as T & ApiErrorBody, headers: res.headers };
  }
  return {
    request: call,
    get: <T>(path: string, opts?: RequestOptions) => call<T>("GET", path, opts),
    post: <T>(path: string, opts?: RequestOptions) => call<T>("POST", path, opts),
    put: <T>(path: string, opts?: RequestOptions) => call<T>("PUT", path, opts),
  };
}

/**
 * Asserts an error answer: its status, its code, the field it names (if given), and that it
 * leaks nothing of the server's insides.
 */
export function expectError(reply: Reply<unknown>, status: number, code: string, field?: string) {
  expect({ status: reply.status, code: reply.body.error?.code }, JSON.stringify(reply.body)).toEqual({ status, code });
  expect(reply.body.error.message).toEqual(expect.any(String));
  expect(reply.body.error.message).not.toMatch(/SQLITE|select |insert |update |\bat \S+ \(|node_modules|\n/i);
  if (field) expect(Object.keys(reply.body.error.fields ?? {}), reply.body.error.message).toContain(field);
}

export type SeededTokens = {
  /** admin's token in acme, READ_WRITE. */
  acmeWrite: string;
  /** admin's token in acme, READ_ONLY. */
  acmeReadOnly: string;
  /** viewer's token in acme stored as ADMIN, which its READ_ONLY owner caps. */
  viewerClaimsAdmin: string;
  /** admin's token in globex, READ_WRITE. */
  globex: string;
};

/** The demo seed plus API tokens; the secrets land in `tokens` (filled when the seed runs). */
export function seedWithTokens(tokens: Partial<SeededTokens>) {
  return async (db: Db) => {
    const { admin, viewer, orgs } = await seedTestDemo(db);
    const adminIn = (slug: string) => ({ db, actor: { organizationId: orgs[slug], userId: admin.id, role: "ADMIN" as Role, label: admin.email } });
    tokens.acmeWrite = (await createApiToken(adminIn("acme"), { name: "acme ci", role: "READ_WRITE" })).secret;
    tokens.acmeReadOnly = (await createApiToken(adminIn("acme"), { name: "acme dashboard", role: "READ_ONLY" })).secret;
    tokens.globex = (await createApiToken(adminIn("globex"), { name: "globex ci", role: "READ_WRITE" })).secret;
    // createApiToken would lower the role itself: write the row directly to prove the read side caps it too.
    const secret = `tw_${randomCode(40)}`;
    await withTransaction({ db }, async (tx) => {
      await tx
        .insert(apiTokens)
        .values({ id: randomUUID(), organizationId: orgs.acme, userId: viewer.id, name: "viewer forged", prefix: secret.slice(0, 8), tokenHash: sha256(secret), role: "ADMIN", createdAt: new Date() });
    });
    tokens.viewerClaimsAdmin = secret;
  };
}

/** Rows in the whole database (every organization), read straight from it. */
export async function rowCounts(dbFile: string): Promise<{ tasks: number; fanouts: number }> {
  const n = async (table: string) => (await rawRow<{ n: number }>(dbFile, `select count(*) as n from ${table}`))!.n;
  return { tasks: await n("tasks"), fanouts: await n("fanouts") };
}

/**
 * One real server per test file, seeded with the demo and API tokens; each user signs in
 * once (sign-in is rate limited) and the cookies are reused by every test of the file.
 */
export function apiServerFixture() {
  const server = { current: undefined as unknown as TestServer };
  const tokens: Partial<SeededTokens> = {};
  const ctx = {
    get server(): TestServer {
      return server.current;
    },
    tokens,
    admin: { cookie: "" },
    viewer: { cookie: "" },
    api: apiClient(() => server.current.url),
    token: (name: keyof SeededTokens) => ({ token: tokens[name]! }),
  };
  beforeAll(async () => {
    server.current = await startTestServer({ seed: seedWithTokens(tokens) });
    ctx.admin.cookie = await signIn(server.current.url, "admin@taskwire.local");
    ctx.viewer.cookie = await signIn(server.current.url, "viewer@taskwire.local");
  });
  afterAll(async () => {
    await server.current?.stop();
  });
  return ctx;
}
