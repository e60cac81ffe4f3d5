// The edges of the task input rules and of what surrounds them: keys that name Object's own
// properties, numbers and times as a person types them, the bound on scheduled times,
// idempotency keys on the domain verb, token use recorded off the request's path, and a
// locked database recognised as such. A real migrated SQLite file; no mocks.
import { failingWrites, rawRun } from "../support/raw";
import { onPg } from "../support/databases";
import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { z } from "zod";
import { BUSY_TIMEOUT_MS, closeDatabase, databaseTrouble, isDatabaseBusy, openSqliteFile, writerConnection } from "../../db/client";
import { apiTokens, idempotencyKeys, member, tasks } from "../../db/schema";
import { withTransaction } from "../../db/transaction";
import { createDevice } from "../../lib/devices/devices";
import { IDEMPOTENCY_KEY_TTL_MS, runOnce, storedAnswer, type Remember } from "../../lib/idempotency";
import { actorForToken, createApiToken } from "../../lib/orgs/orgs";
import { flushTokenUses, noteTokenUse } from "../../lib/orgs/token-usage";
import { SCHEDULE_AHEAD_MAX_DAYS, TTL_SECONDS } from "../../rules/tasks";
import { issueFanout, issueFanoutOnce, parsePayload, type IssueResult } from "../../lib/tasks/issue";
import { issueSchema, issueSchemaAt, PAYLOAD_SCHEMAS } from "../../lib/tasks/schemas";
import { fieldErrorsOf, parse, toValidationError } from "../../lib/validation";
import { freshDb } from "../support/db";
import { makeOrg, makeUser } from "../support/factories";
import { countFanouts, countTasks, expectDomainError, rejection, thrown } from "./helpers";

const db = await freshDb();
const DAY = 24 * 3600_000;

async function fleet() {
  const { org, actor, owner } = await makeOrg(db);
  await createDevice({ db }, { organizationId: org.id, name: "e1", status: "ENABLED" });
  await createDevice({ db }, { organizationId: org.id, name: "e2", status: "ENABLED" });
  return { org, actor, owner };
}

const counts = async () => ({ tasks: (await countTasks(db)), fanouts: (await countFanouts(db)) });

describe("field names that are Object's own properties", () => {
  const OWN = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];

  test.each(OWN)("%s becomes an ordinary field of the errors", (key) => {
    const fields = fieldErrorsOf([
      [key, "first"],
      [key, "second"],
      ["type", "third"],
    ]);
    expect(Object.keys(fields)).toEqual([key, "type"]);
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
    expect(Object.hasOwn(fields, key)).toBe(true);
    expect(fields[key]).toEqual(["first", "second"]);
    expect(JSON.parse(JSON.stringify(fields))).toEqual(JSON.parse(`{${JSON.stringify(key)}:["first","second"],"type":["third"]}`));
  });

  test.each(OWN)("an issue at path %s becomes a ValidationError naming it, twice over", (key) => {
    const err = toValidationError(
      new z.ZodError([
        { code: "custom", path: [key], message: "first", input: 1 },
        { code: "custom", path: [key], message: "second", input: 1 },
      ]),
    );
    expect(err.code).toBe("invalid");
    expect(err.message).toBe(`${key}: first`);
    expect(Object.hasOwn(err.fieldErrors!, key)).toBe(true);
    expect(err.fieldErrors![key]).toEqual(["first", "second"]);
  });

  test.each(OWN)("a strict schema's unknown key %s is refused through parse, not a crash", async (key) => {
    const input = JSON.parse(`{"a": 1, ${JSON.stringify(key)}: 2}`) as unknown;
    const err = await expectDomainError(() => parse(z.strictObject({ a: z.number() }), input), "invalid");
    // A field of its own, by its own name: a computed key defines it, never the prototype.
    expect(Object.keys(err.fieldErrors!)).toEqual([key]);
    expect(Object.hasOwn(err.fieldErrors!, key) && err.fieldErrors![key]).toEqual(["Unknown field"]);
  });

  test.each(OWN)("a payload key %s is refused by name", async (key) => {
    const payload = JSON.parse(`{"host": "h", ${JSON.stringify(key)}: 1}`) as unknown;
    const err = await expectDomainError(() => parsePayload("PING", payload), "invalid");
    expect(err.fieldErrors).toEqual({ payload: [`PING takes no ${key}`] });
  });
});

describe("numbers as a person types them", () => {
  const count = (v: unknown) => PAYLOAD_SCHEMAS.PING.safeParse({ host: "h", ...(v === undefined ? {} : { count: v }) });
  const ttl = (v: unknown) => issueSchema.shape.ttlSeconds.safeParse(v);

  test.each([
    [5, 5],
    ["7", 7],
    [" 12 ", 12],
    [undefined, 4],
  ])("PING count %j is %i", (input, expected) => {
    const r = count(input);
    expect(r.success && r.data.count).toBe(expected);
  });

  test.each([true, false, [5], "0x10", "1e3", "", "  ", null, {}, "5 pings", "½"])("PING count %j is refused", (input) => {
    const r = count(input);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message)).toEqual(["Count is a whole number"]);
  });

  test.each([
    [4.5, "Count is a whole number"],
    ["-5", "Count is at least 1"],
    [0, "Count is at least 1"],
    ["1001", "Count is at most 1000"],
  ])("PING count %j: %s", (input, message) => {
    expect(count(input).error!.issues.map((i) => i.message)).toEqual([message]);
  });

  test.each([
    [600, 600],
    ["600", 600],
    [" 3600 ", 3600],
    [undefined, TTL_SECONDS.default],
  ])("ttlSeconds %j is %i", (input, expected) => {
    const r = ttl(input);
    expect(r.success && r.data).toBe(expected);
  });

  test.each([true, [600], "6e2", "0x258", "600s", "", null, {}])("ttlSeconds %j is refused", (input) => {
    const r = ttl(input);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message)).toEqual(["Time to live is a number of seconds"]);
  });
});

describe("scheduled times", () => {
  const at = (v: unknown) => issueSchema.shape.scheduledAt.safeParse(v);
  const NOT_A_TIME = "Scheduled time is an ISO 8601 date-time, e.g. 2026-05-01T22:00:00Z";

  test.each([
    ["2030-05-01T22:00:00Z", "2030-05-01T22:00:00.000Z"],
    ["2030-05-01T22:00:00.250Z", "2030-05-01T22:00:00.250Z"],
    ["2030-05-02T00:00:00+02:00", "2030-05-01T22:00:00.000Z"],
    [" 2030-05-01T22:00:00Z ", "2030-05-01T22:00:00.000Z"],
    ["+275760-09-13T00:00:00.000Z", "+275760-09-13T00:00:00.000Z"],
  ])("%j is the instant %s", (input, iso) => {
    const r = at(input);
    expect(r.success && r.data?.toISOString()).toBe(iso);
  });

  test("a Date from code is taken as it is; null and absent are immediate", () => {
    const d = new Date("2030-01-01T00:00:00Z");
    expect(at(d).data).toEqual(d);
    expect(at(null)).toMatchObject({ success: true, data: null });
    expect(at(undefined)).toMatchObject({ success: true, data: undefined });
  });

  test.each([true, false, 0, Date.now(), [2030], ["2030-01-01T00:00:00Z"], "2030", "2030-05-01", "2030-05-01 22:00", "tomorrow", "", new Date(Number.NaN), {}])(
    "%j is refused",
    (input) => {
      const r = at(input);
      expect(r.success).toBe(false);
      expect(r.error!.issues.map((i) => i.message)).toEqual([NOT_A_TIME]);
    },
  );

  test("the bound: in the past is refused, up to a year ahead is taken, a moment more is refused", () => {
    const now = new Date("2030-01-01T12:00:00.000Z");
    const schema = issueSchemaAt(now);
    const base = { type: "SYNC", targets: { all: true } };
    const message = (scheduledAt: unknown) => schema.safeParse({ ...base, scheduledAt }).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    expect(message(new Date(now.getTime() - 60_000))).toEqual(["scheduledAt: The scheduled time is in the past"]);
    expect(message(new Date(now.getTime() + SCHEDULE_AHEAD_MAX_DAYS * DAY))).toBeUndefined();
    expect(message(new Date(now.getTime() + SCHEDULE_AHEAD_MAX_DAYS * DAY + 1))).toEqual([`scheduledAt: The scheduled time is at most ${SCHEDULE_AHEAD_MAX_DAYS} days ahead`]);
    expect(message("+275760-09-13T00:00:00.000Z")).toEqual([`scheduledAt: The scheduled time is at most ${SCHEDULE_AHEAD_MAX_DAYS} days ahead`]);
  });

  test("issuing at the last date JavaScript holds is a field error, not a database error, and creates nothing", async () => {
    const f = await fleet();
    const before = await counts();
    for (const scheduledAt of ["+275760-09-13T00:00:00.000Z", new Date(8.64e15), new Date(Date.now() + (SCHEDULE_AHEAD_MAX_DAYS + 1) * DAY)]) {
      const err = await expectDomainError(() => issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["e1"] }, scheduledAt, ttlSeconds: TTL_SECONDS.max }), "invalid");
      expect(Object.keys(err.fieldErrors ?? {})).toEqual(["scheduledAt"]);
      expect(err.message).toBe(`scheduledAt: The scheduled time is at most ${SCHEDULE_AHEAD_MAX_DAYS} days ahead`);
    }
    expect((await counts())).toEqual(before);
    // A year ahead with the longest time to live is still a date both sides hold.
    const now = new Date();
    const latest = new Date(now.getTime() + SCHEDULE_AHEAD_MAX_DAYS * DAY);
    const res = await issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["e1"] }, scheduledAt: latest, ttlSeconds: TTL_SECONDS.max }, now);
    const row = (await db.select().from(tasks).where(eq(tasks.code, res.tasks[0].code)))[0]!;
    expect(row.expiresAt.getTime()).toBe(latest.getTime() + TTL_SECONDS.max * 1000);
  });
});

describe("idempotency keys on the issue verb (the issue form's path)", () => {
  test("the same key twice: one fan-out, the second call replays its summary", async () => {
    const f = await fleet();
    const key = randomUUID();
    const input = { type: "SYNC", targets: { devices: ["e1", "e2"] } };
    const before = await counts();
    const first = await issueFanoutOnce({ db, actor: f.actor }, input, key);
    expect(first).toMatchObject({ total: 2, replayed: false });
    expect((await counts())).toEqual({ tasks: before.tasks + 2, fanouts: before.fanouts + 1 });
    const again = await issueFanoutOnce({ db, actor: f.actor }, input, key);
    expect(again).toEqual({ ...first, replayed: true });
    // The key names the submission: edited fields sent with it still get the first answer.
    expect(await issueFanoutOnce({ db, actor: f.actor }, { ...input, targets: { devices: ["e1"] } }, key)).toEqual({ ...first, replayed: true });
    expect((await counts())).toEqual({ tasks: before.tasks + 2, fanouts: before.fanouts + 1 });
    // A new key is a new submission.
    expect((await issueFanoutOnce({ db, actor: f.actor }, input, randomUUID())).fanout).not.toBe(first.fanout);
  });

  test("a key is the caller's own: another member's same key issues anew", async () => {
    const f = await fleet();
    const other = await makeUser(db);
    await withTransaction({ db }, async (tx) => {
      await tx.insert(member).values({ id: randomUUID(), organizationId: f.org.id, userId: other.id, role: "READ_WRITE", createdAt: new Date() });
    });
    const otherActor = { organizationId: f.org.id, userId: other.id, role: "READ_WRITE" as const, label: other.email, principal: `user:${other.id}` };
    const key = "shared-key";
    const mine = await issueFanoutOnce({ db, actor: f.actor }, { type: "SYNC", targets: { all: true } }, key);
    const theirs = await issueFanoutOnce({ db, actor: otherActor }, { type: "SYNC", targets: { all: true } }, key);
    expect(theirs.replayed).toBe(false);
    expect(theirs.fanout).not.toBe(mine.fanout);
  });

  test("a request that failed leaves no key: the corrected retry with the same key runs", async () => {
    const f = await fleet();
    const key = randomUUID();
    const before = await counts();
    await expectDomainError(() => issueFanoutOnce({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["nope"] } }, key), "unprocessable");
    await expectDomainError(() => issueFanoutOnce({ db, actor: f.actor }, { type: "PING", payload: {}, targets: { devices: ["e1"] } }, key), "invalid");
    expect((await counts())).toEqual(before);
    expect((await db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, key)))).toEqual([]);
    expect((await issueFanoutOnce({ db, actor: f.actor }, { type: "SYNC", targets: { devices: ["e1"] } }, key)).replayed).toBe(false);
  });

  test.each(["", " leading", "with space", "x".repeat(256), "tab\there", "ünïcode", 42, null])("key %j is refused before anything runs", async (key) => {
    const f = await fleet();
    const before = await counts();
    const err = await expectDomainError(() => issueFanoutOnce({ db, actor: f.actor }, { type: "SYNC", targets: { all: true } }, key), "invalid");
    expect(err.message).toBe("An Idempotency-Key is 1 to 255 visible ASCII characters");
    expect((await counts())).toEqual(before);
  });

  test("255 visible ASCII characters make a key", async () => {
    const f = await fleet();
    const key = Array.from({ length: 255 }, (_, i) => String.fromCharCode(0x21 + (i % 94))).join("");
    expect((await issueFanoutOnce({ db, actor: f.actor }, { type: "SYNC", targets: { all: true } }, key)).replayed).toBe(false);
    expect((await issueFanoutOnce({ db, actor: f.actor }, { type: "SYNC", targets: { all: true } }, key)).replayed).toBe(true);
  });

  test("a READ_ONLY caller gets no replay of an answer", async () => {
    const f = await fleet();
    const key = randomUUID();
    await issueFanoutOnce({ db, actor: f.actor }, { type: "SYNC", targets: { all: true } }, key);
    await expectDomainError(() => issueFanoutOnce({ db, actor: { ...f.actor, role: "READ_ONLY" } }, { type: "SYNC", targets: { all: true } }, key), "forbidden");
  });

  test("the same key with another request's fingerprint is refused (422) and creates nothing", async () => {
    const f = await fleet();
    const claim = { key: randomUUID(), fingerprint: "a" };
    const run = (remember?: Remember<IssueResult>) => issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { all: true } }, undefined, { remember });
    const answer = (r: { fanout: string }) => ({ status: 201, body: { fanout: r.fanout } });
    const first = await runOnce({ db, actor: f.actor }, { needs: "READ_WRITE", claim }, run, answer);
    const before = await counts();
    const err = await expectDomainError(() => runOnce({ db, actor: f.actor }, { needs: "READ_WRITE", claim: { ...claim, fingerprint: "b" } }, run, answer), "unprocessable");
    expect(err.message).toBe("This Idempotency-Key was used with another request");
    expect((await counts())).toEqual(before);
    expect(await runOnce({ db, actor: f.actor }, { needs: "READ_WRITE", claim }, run, answer)).toEqual({ ...first, replayed: true });
  });

  test("a key is remembered for 24 hours, then it names a new request; expired keys are cleared as new ones come", async () => {
    const f = await fleet();
    const key = randomUUID();
    const t0 = new Date("2030-03-01T00:00:00Z");
    const input = { type: "SYNC", targets: { devices: ["e1"] } };
    const first = await issueFanoutOnce({ db, actor: f.actor }, input, key, t0);
    expect(await issueFanoutOnce({ db, actor: f.actor }, input, key, new Date(t0.getTime() + IDEMPOTENCY_KEY_TTL_MS - 1))).toEqual({ ...first, replayed: true });
    const later = await issueFanoutOnce({ db, actor: f.actor }, input, key, new Date(t0.getTime() + IDEMPOTENCY_KEY_TTL_MS + 1));
    expect(later.replayed).toBe(false);
    expect(later.fanout).not.toBe(first.fanout);
    // Another expired key of the organization went with that write.
    const stale = randomUUID();
    await issueFanoutOnce({ db, actor: f.actor }, input, stale, t0);
    await issueFanoutOnce({ db, actor: f.actor }, input, randomUUID(), new Date(t0.getTime() + 2 * IDEMPOTENCY_KEY_TTL_MS));
    expect((await db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, stale)))).toEqual([]);
  });

  test("a writer elsewhere that commits the same key first: this fan-out is rolled back and the other's answer replayed", async () => {
    const f = await fleet();
    const claim = { key: randomUUID(), fingerprint: "fp" };
    // Another process: a connection of its own to the file, or to PostgreSQL.
    const outside = onPg ? undefined : new Database(db.$client.name);
    const insertElsewhere = "insert into idempotency_keys (organization_id, principal, key, request_hash, status, response, created_at) values (?, ?, ?, ?, 201, '{}', ?)";
    try {
      const before = await counts();
      const answer = await runOnce<IssueResult>(
        { db, actor: f.actor },
        { needs: "READ_WRITE", claim },
        async (remember) => {
          // Between our lookup and our transaction, another process stores the key.
          const row = [f.org.id, `user:${f.actor.userId}`, claim.key, claim.fingerprint, Date.now()];
          if (outside) outside.prepare(insertElsewhere).run(...row);
          else await rawRun(db, insertElsewhere, ...row);
          return issueFanout({ db, actor: f.actor }, { type: "SYNC", targets: { all: true } }, undefined, { remember });
        },
        (r) => ({ status: 201, body: r.fanout }),
      );
      // The other writer's answer, as a retry would get it; nothing of this fan-out was kept.
      expect(answer).toEqual({ status: 201, body: {}, replayed: true });
      expect(await counts()).toEqual(before);
      expect(await storedAnswer({ db, actor: f.actor }, claim)).toEqual({ status: 201, body: {} });
    } finally {
      outside?.close();
    }
  });
});

describe("API token use is recorded off the request's path", () => {
  test("resolving a token writes nothing; the use is written at the next flush, and a failing write is kept for later", async () => {
    const { actor } = await makeOrg(db);
    const { secret } = await createApiToken({ db, actor }, { name: "ci", role: "READ_WRITE" });
    const lastUsed = async () => (await db.select({ at: apiTokens.lastUsedAt }).from(apiTokens).where(eq(apiTokens.name, "ci")))[0]?.at ?? null;
    // Any write to api_tokens fails, as on a full disk.
    const writable = await failingWrites(db, "api_tokens", "UPDATE", "database or disk is full");
    try {
      const started = Date.now();
      expect(await actorForToken({ db }, secret)).toMatchObject({ organizationId: actor.organizationId, principal: expect.stringMatching(/^token:/) });
      await expect(flushTokenUses(db)).resolves.not.toThrow();
      expect((await lastUsed())).toBeNull();
      await writable();
      await flushTokenUses(db);
      expect((await lastUsed())!.getTime()).toBeGreaterThanOrEqual(started);
    } finally {
      await writable();
    }
  });

  test("a use noted earlier than the one recorded does not move it back (another node wrote a later one)", async () => {
    const { actor } = await makeOrg(db);
    await createApiToken({ db, actor }, { name: "two nodes", role: "READ_ONLY" });
    const [{ id }] = await db.select({ id: apiTokens.id }).from(apiTokens).where(eq(apiTokens.name, "two nodes"));
    const lastUsed = async () => (await db.select({ at: apiTokens.lastUsedAt }).from(apiTokens).where(eq(apiTokens.id, id)))[0].at;
    const later = Date.now();
    noteTokenUse(db, id, later);
    await flushTokenUses(db);
    noteTokenUse(db, id, later - 60_000);
    await flushTokenUses(db);
    expect((await lastUsed())!.getTime()).toBe(later);
  });
});

describe.skipIf(onPg)("a locked SQLite file", () => {
  test("a write fails fast with an error recognised as busy, through drizzle too; a read still answers", async () => {
    const file = `${db.$client.name}.lock-test.db`;
    const server = openSqliteFile(file);
    const outside = new Database(file);
    try {
      outside.exec("begin immediate");
      const t0 = performance.now();
      const e = await rejection(() =>
        withTransaction({ db: server }, async (tx) => {
          await tx.insert(apiTokens).values({ id: "x", organizationId: "o", userId: "u", name: "n", prefix: "p", tokenHash: "h", role: "ADMIN", createdAt: new Date() });
        }),
      );
      const waited = performance.now() - t0;
      expect(databaseTrouble(e)).toBe("busy");
      expect(isDatabaseBusy(thrown(() => writerConnection(server).exec("insert into nodes (id, started_at, seen_at) values ('n', 0, 0)")))).toBe(true);
      // The wait is the busy timeout, not seconds (generous: the machine may be busy).
      expect(waited).toBeGreaterThanOrEqual(BUSY_TIMEOUT_MS - 5);
      expect(waited).toBeLessThan(1_500);
      expect((await server.select().from(apiTokens))).toEqual([]);
      expect(isDatabaseBusy(new Error("no"))).toBe(false);
      expect(isDatabaseBusy(Object.assign(new Error("constraint"), { code: "SQLITE_CONSTRAINT_PRIMARYKEY" }))).toBe(false);
      // What node-postgres and PostgreSQL say, each wrapped as drizzle wraps them.
      const pgError = (message: string, code?: string) => Object.assign(new Error("Failed query"), { cause: Object.assign(new Error(message), code ? { code } : {}) });
      expect(databaseTrouble(pgError("could not serialize access", "40001"))).toBe("busy");
      expect(databaseTrouble(pgError("timeout exceeded when trying to connect"))).toBe("unreachable");
      expect(databaseTrouble(pgError("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"))).toBe("unreachable");
      expect(databaseTrouble(pgError("getaddrinfo EAI_AGAIN db.internal", "EAI_AGAIN"))).toBe("unreachable");
      expect(databaseTrouble(pgError("cannot set transaction read-write mode during recovery", "25006"))).toBe("unreachable");
      expect(databaseTrouble(pgError("Client has encountered a connection error and is not queryable"))).toBe("unreachable");
      expect(databaseTrouble(pgError("duplicate key value violates unique constraint", "23505"))).toBe(null);
    } finally {
      outside.exec("rollback");
      outside.close();
      await closeDatabase(server);
    }
  });
});
