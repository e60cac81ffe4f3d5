// Idempotency-Key on the API's creating requests (draft-ietf-httpapi-idempotency-key-header):
// the same key and body from the same caller replay the first answer and create nothing; the
// same key with another body is refused; keys are the caller's own. The real production
// server; every count is read from its database file.
import { rawRow, rawRows } from "../support/raw";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { apiTokens, member } from "../../db/schema";
import type { Db } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import { randomCode, sha256 } from "../../lib/crypto";
import { makeUser } from "../support/factories";
import { apiClient, expectError, rowCounts, seedWithTokens, type Caller, type Issued, type SeededTokens, type TaskPage } from "../support/api";
import { signIn, startTestServer, type TestServer } from "../support/server";

// One server for the file, seeded with the demo, the usual tokens, and a second READ_WRITE
// member of acme with a token of their own.
let server: TestServer;
const tokens: Partial<SeededTokens> = {};
let colleague = "";
let adminCookie = "";
const api = apiClient(() => server.url);

beforeAll(async () => {
  server = await startTestServer({
    seed: async (db: Db) => {
      await seedWithTokens(tokens)(db);
      const acme = (await rawRow<{ id: string }>(db, "select id from organization where slug = 'acme'"))!;
      const user = await makeUser(db, "colleague@taskwire.local");
      colleague = `tw_${randomCode(40)}`;
      await withTransaction({ db }, async (tx) => {
        await tx.insert(member).values({ id: randomUUID(), organizationId: acme.id, userId: user.id, role: "READ_WRITE", createdAt: new Date() });
        await tx
          .insert(apiTokens)
          .values({ id: randomUUID(), organizationId: acme.id, userId: user.id, name: "colleague ci", prefix: colleague.slice(0, 8), tokenHash: sha256(colleague), role: "READ_WRITE", createdAt: new Date() });
      });
    },
  });
  adminCookie = await signIn(server.url, "admin@taskwire.local");
});
afterAll(async () => {
  await server?.stop();
});

const as = (t: keyof SeededTokens): Caller => ({ token: tokens[t]! });
const issue = (json: unknown, key: string | undefined, caller: Caller = as("acmeWrite")) =>
  api.post<Issued>("/tasks", { as: caller, json, headers: key === undefined ? {} : { "idempotency-key": key } });

function storedKeys() {
  return rawRows<{ key: string; principal: string; status: number; response: string }>(server.dbFile, "select key, principal, status, response from idempotency_keys");
}

describe("POST /tasks with an Idempotency-Key", () => {
  test("the same key and body again: the same answer, marked replayed, and nothing new in the database", async () => {
    const key = randomUUID();
    const body = { type: "BACKUP", targets: { ous: ["apac"] } };
    const before = (await rowCounts(server.dbFile));
    const first = await issue(body, key);
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    expect(first.body.total).toBe(55);
    const created = (await rowCounts(server.dbFile));
    expect(created).toEqual({ tasks: (await before).tasks + 55, fanouts: (await before).fanouts + 1 });
    // The answer was stored with the fan-out.
    const row = (await storedKeys()).find((k) => k.key === key)!;
    expect({ status: row.status, response: JSON.parse(row.response) as unknown }).toEqual({ status: 201, response: first.body });

    for (let i = 0; i < 2; i++) {
      const again = await issue(body, key);
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
    }
    expect((await rowCounts(server.dbFile))).toEqual(created);
    // Without the key the same body is a new request.
    expect((await issue(body, undefined)).body.fanout).not.toBe(first.body.fanout);
  });

  test("the same key sent by many at once: one fan-out, every answer the same", async () => {
    const key = randomUUID();
    const body = { type: "SYNC", targets: { devices: ["fw-ams-20", "fw-ams-21"] } };
    const before = (await rowCounts(server.dbFile));
    const replies = await Promise.all(Array.from({ length: 6 }, () => issue(body, key)));
    expect(replies.map((r) => r.status)).toEqual(Array(6).fill(201));
    expect(new Set(replies.map((r) => r.body.fanout)).size).toBe(1);
    expect(replies.filter((r) => r.headers.get("idempotent-replayed") === null)).toHaveLength(1);
    expect((await rowCounts(server.dbFile))).toEqual({ tasks: (await before).tasks + 2, fanouts: (await before).fanouts + 1 });
  });

  test("the same key with another body: 422, nothing created, and the first answer still replays", async () => {
    const key = randomUUID();
    const body = { type: "SYNC", targets: { devices: ["fw-ams-22"] } };
    const first = await issue(body, key);
    expect(first.status).toBe(201);
    const before = (await rowCounts(server.dbFile));
    for (const other of [{ ...body, ttl_seconds: 600 }, { type: "PULL", targets: body.targets }]) {
      const reply = await issue(other, key);
      expectError(reply, 422, "unprocessable");
      expect(reply.body.error.message).toBe("This Idempotency-Key was used with another request");
    }
    // Bytes, not meaning: the same fields in another order are another request too.
    const reordered = await api.post<Issued>("/tasks", { as: as("acmeWrite"), body: JSON.stringify({ targets: body.targets, type: body.type }), headers: { "content-type": "application/json", "idempotency-key": key } });
    expectError(reordered, 422, "unprocessable");
    expect((await rowCounts(server.dbFile))).toEqual(before);
    expect((await issue(body, key)).body).toEqual(first.body);
  });

  test("a request that failed stores no key: the corrected retry with the same key creates", async () => {
    const key = randomUUID();
    const before = (await rowCounts(server.dbFile));
    expectError(await issue({ type: "SYNC", targets: { devices: ["fw-nope-99"] } }, key), 422, "unprocessable");
    expectError(await issue({ type: "SYNC", targets: { devices: ["fw-ams-23"] }, ttl_seconds: 1 }, key), 400, "invalid");
    expect((await rowCounts(server.dbFile))).toEqual(before);
    expect((await storedKeys()).some((k) => k.key === key)).toBe(false);
    const ok = await issue({ type: "SYNC", targets: { devices: ["fw-ams-23"] } }, key);
    expect(ok.status).toBe(201);
    expect(ok.headers.get("idempotent-replayed")).toBeNull();
  });

  test.each([
    ["empty", ""],
    ["256 characters", "k".repeat(256)],
    ["with a space inside", "my key"],
    ["with a character outside ASCII", "clé"],
    ["an empty quoted string", '""'],
  ])("a key %s: 400 before anything runs", async (_name, key) => {
    const before = (await rowCounts(server.dbFile));
    const reply = await issue({ type: "SYNC", targets: { devices: ["fw-ams-24"] } }, key);
    expectError(reply, 400, "invalid");
    expect(reply.body.error.message).toBe("An Idempotency-Key is 1 to 255 visible ASCII characters");
    expect((await rowCounts(server.dbFile))).toEqual(before);
  });

  test("255 visible characters make a key; the draft's quoted form names the same key", async () => {
    const key = Array.from({ length: 255 }, (_, i) => String.fromCharCode(0x21 + ((i * 7) % 94))).join("").replace(/"/g, "q");
    const body = { type: "SYNC", targets: { devices: ["fw-ams-25"] } };
    const first = await issue(body, key);
    expect(first.status).toBe(201);
    const quoted = await issue(body, `"${key.replace(/\\/g, "\\\\")}"`);
    expect(quoted.headers.get("idempotent-replayed")).toBe("true");
    expect(quoted.body).toEqual(first.body);
  });

  test("a key is the caller's own: another member, the same user's session, and another organization each start afresh", async () => {
    const key = randomUUID();
    const body = { type: "SYNC", targets: { all: true } };
    const mine = await issue(body, key);
    expect(mine.status).toBe(201);
    const before = (await rowCounts(server.dbFile));
    const theirs = await issue(body, key, { token: colleague });
    const session = await api.post<Issued>("/tasks", { as: { cookie: adminCookie }, json: body, headers: { "idempotency-key": key, origin: server.url } });
    const globex = await issue(body, key, as("globex"));
    for (const r of [theirs, session, globex]) {
      expect(r.status).toBe(201);
      expect(r.headers.get("idempotent-replayed")).toBeNull();
      expect(r.body.fanout).not.toBe(mine.body.fanout);
    }
    expect((await rowCounts(server.dbFile)).fanouts).toBe((await before).fanouts + 3);
    // And each replays its own answer.
    expect((await issue(body, key, { token: colleague })).body).toEqual(theirs.body);
    expect((await issue(body, key)).body).toEqual(mine.body);
    expect(new Set((await storedKeys()).filter((k) => k.key === key).map((k) => k.principal)).size).toBe(4);
  });

  test("a READ_ONLY caller's key is no way around its role", async () => {
    const key = randomUUID();
    await issue({ type: "SYNC", targets: { devices: ["fw-ams-26"] } }, key);
    expectError(await issue({ type: "SYNC", targets: { devices: ["fw-ams-26"] } }, key, as("acmeReadOnly")), 403, "forbidden");
  });
});

describe("POST /tasks/{code}/rerun with an Idempotency-Key", () => {
  test("the same key again replays the re-run; the same key on another task is 422", async () => {
    const finished = (await api.get<TaskPage>("/tasks?status=COMPLETED&per_page=2", { as: as("acmeReadOnly") })).body.items;
    expect(finished).toHaveLength(2);
    const key = randomUUID();
    const before = (await rowCounts(server.dbFile));
    const first = await api.post<Issued>(`/tasks/${finished[0].code}/rerun`, { as: as("acmeWrite"), headers: { "idempotency-key": key } });
    expect(first.status).toBe(201);
    const again = await api.post<Issued>(`/tasks/${finished[0].code}/rerun`, { as: as("acmeWrite"), headers: { "idempotency-key": key } });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await rowCounts(server.dbFile))).toEqual({ tasks: (await before).tasks + 1, fanouts: (await before).fanouts + 1 });
    expectError(await api.post(`/tasks/${finished[1].code}/rerun`, { as: as("acmeWrite"), headers: { "idempotency-key": key } }), 422, "unprocessable");
    expectError(await api.post(`/tasks/${finished[1].code}/rerun`, { as: as("acmeWrite"), headers: { "idempotency-key": "bad key" } }), 400, "invalid");
    expect((await rowCounts(server.dbFile))).toEqual({ tasks: (await before).tasks + 1, fanouts: (await before).fanouts + 1 });
  });
});
