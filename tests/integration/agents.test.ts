// The agent protocol (docs/agent-protocol.md) against the real production server: enrollment,
// the /agent handshake, dispatch and acknowledgements, results, heartbeats, the rate limit and
// the console's device verbs reaching connected agents. Every test enrolls its own devices, so
// none depends on another's leftovers or on order.
import { createHash, createPublicKey, randomUUID, type KeyObject } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ACK_TIMEOUT_MS } from "../../lib/agents/dispatcher";
import { SEQ_BLOCK } from "../../lib/devices/connection";
import { verifyTaskMessage, type TaskMessage } from "../../lib/agents/envelope";
import { expectError } from "../support/api";
import {
  acceptNext,
  agentServerFixture,
  closeAgentsAfterEach,
  deviceCount,
  deviceRow,
  expectStatusHeld,
  refusal,
  registrationToken,
  serverActionId,
  taskRow,
  uniqueName,
  waitFor,
  waitForStatus,
  type TestAgent,
} from "../support/agents";
import { pgBinDir } from "../../scripts/lib/throwaway-pg";
import { onPg } from "../support/databases";
import { rawRow, rawRun } from "../support/raw";

const ctx = agentServerFixture({ env: { TASKWIRE_CLOCK_MAX_SLEEP_MS: "200" }, signInAdmin: true });
closeAgentsAfterEach();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const orgId = async (slug: string) => (await rawRow<{ id: string }>(ctx.dbFile, "select id from organization where slug = ?", slug))!.id;
const reg = (slug = "acme") => registrationToken(ctx.dbFile, slug);
const result = (agent: TestAgent, code: string, status: string, message: string) => agent.send("result", { code, status, message });
const heartbeat = (agent: TestAgent, version = "1.9.1") => agent.send<{ ok: boolean; error?: string }>("heartbeat", { version });

async function serverKey(): Promise<KeyObject> {
  const r = await ctx.api.get<{ algorithm: string; public_key: string }>("/agent/server-key");
  expect(r.status).toBe(200);
  return createPublicKey(r.body.public_key);
}

/** A console form posted the way a browser without JavaScript posts it; answers 200 with the page. */
async function consoleAction(page: string, exportedName: string, file: string, fields: Record<string, string>) {
  const form = new FormData();
  form.set(`$ACTION_ID_${serverActionId(exportedName, file)}`, "");
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  const res = await fetch(`${ctx.url}${page}`, { method: "POST", headers: { cookie: ctx.admin.cookie, origin: ctx.url }, body: form, redirect: "manual" });
  await res.text();
  expect(res.status).toBe(200);
}

describe("enrollment", () => {
  test("201: PENDING without auto-approve, ENABLED with it; the device token is kept only as its hash", async () => {
    const name = uniqueName();
    const pending = await ctx.enroll({ registration_token: (await reg("globex")), name, version: "1.9.1" });
    expect(pending.status).toBe(201);
    expect(Object.keys(pending.body).sort()).toEqual(["device_id", "device_token", "status"]);
    expect(pending.body).toMatchObject({ status: "PENDING", device_id: expect.stringMatching(UUID), device_token: expect.stringMatching(/^dev_[0-9A-Za-z]{40}$/) });

    const enabled = await ctx.enroll({ registration_token: (await reg("acme")), name, version: "2.0.0-rc.1" });
    expect(enabled.status).toBe(201);
    expect(enabled.body.status).toBe("ENABLED");
    expect(enabled.body.device_token).not.toBe(pending.body.device_token);

    for (const [reply, org, version] of [
      [pending, "globex", "1.9.1"],
      [enabled, "acme", "2.0.0-rc.1"],
    ] as const) {
      const row = (await deviceRow(ctx.dbFile, reply.body.device_id))!;
      expect(row).toMatchObject({ organization_id: (await orgId(org)), name, status: reply.body.status, agent_version: version, online: 0, deleted_at: null });
      expect(row.token_hash).toBe(sha256(reply.body.device_token));
      expect(JSON.stringify(row)).not.toContain(reply.body.device_token);
    }
    // Nowhere in the database either: the file and its write-ahead log, or every row PostgreSQL holds.
    const wal = `${ctx.dbFile}-wal`;
    const bytes = onPg
      ? execFileSync(join(pgBinDir()!, "pg_dump"), ["--data-only", ctx.dbFile], { maxBuffer: 1 << 28 })
      : Buffer.concat([readFileSync(ctx.dbFile), existsSync(wal) ? readFileSync(wal) : Buffer.alloc(0)]);
    expect(bytes.includes(name)).toBe(true);
    for (const t of [pending.body.device_token, enabled.body.device_token]) {
      expect(bytes.includes(t)).toBe(false);
      expect(bytes.includes(t.slice(4))).toBe(false);
    }
  });

  test("401 for an unknown registration token; nothing is created", async () => {
    const before = (await deviceCount(ctx.dbFile));
    expectError(await ctx.enroll({ registration_token: `reg_${"x".repeat(32)}`, name: uniqueName(), version: "1.9.1" }), 401, "unauthorized");
    // A device token is not a registration token.
    const { creds } = await ctx.device();
    expectError(await ctx.enroll({ registration_token: creds.device_token, name: uniqueName(), version: "1.9.1" }), 401, "unauthorized");
    expect((await deviceCount(ctx.dbFile))).toBe(before + 1);
  });

  test("409 when a live device of the organization has the name; another organization or a deleted device frees it", async () => {
    const name = uniqueName();
    const first = await ctx.enroll({ registration_token: (await reg()), name, version: "1.9.1" });
    expect(first.status).toBe(201);
    expectError(await ctx.enroll({ registration_token: (await reg()), name, version: "1.9.1" }), 409, "conflict");
    // A seeded device of acme.
    expectError(await ctx.enroll({ registration_token: (await reg()), name: "fw-ams-01", version: "1.9.1" }), 409, "conflict");
    expect((await ctx.enroll({ registration_token: (await reg("globex")), name, version: "1.9.1" })).status).toBe(201);

    // Soft-deleted the way the Devices domain does it: the name is free again.
    await rawRun(ctx.dbFile, "update devices set deleted_at = ? where id = ?", Date.now(), first.body.device_id);
    const again = await ctx.enroll({ registration_token: (await reg()), name, version: "1.9.1" });
    expect(again.status).toBe(201);
    expect(again.body.device_id).not.toBe(first.body.device_id);
  });

  test("400 for a malformed body; nothing is created", async () => {
    const before = (await deviceCount(ctx.dbFile));
    const good = { registration_token: (await reg()), name: uniqueName(), version: "1.9.1" };
    const cases: [string, unknown, string?][] = [
      ["missing name", { registration_token: good.registration_token, version: "1.9.1" }, "name"],
      ["a space and a slash in the name", { ...good, name: "fw ams/01" }, "name"],
      ["a name starting with a dash", { ...good, name: "-fw-01" }, "name"],
      ["a 65-character name", { ...good, name: `fw-${"a".repeat(62)}` }, "name"],
      ["a name that is not a string", { ...good, name: 7 }, "name"],
      ["missing version", { registration_token: good.registration_token, name: good.name }, "version"],
      ["a version with a space", { ...good, version: "1.9 beta" }, "version"],
      ["missing registration token", { name: good.name, version: "1.9.1" }, "registration_token"],
      ["an extra field", { ...good, os: "OPNsense" }],
      ["an array", [good]],
      ["null", null],
    ];
    for (const [label, json, field] of cases) {
      const reply = await ctx.enroll(json);
      expect(reply.status, label).toBe(400);
      expectError(reply, 400, "invalid", field);
    }
    const notJson = await ctx.api.post("/agent/enroll", { body: "{name: fw-01", headers: { "content-type": "application/json" } });
    expectError(notJson, 400, "invalid");
    const empty = await ctx.api.post("/agent/enroll", { body: "", headers: { "content-type": "application/json" } });
    expectError(empty, 400, "invalid");
    expect((await deviceCount(ctx.dbFile))).toBe(before);
  });

  test("GET /agent/server-key: the Ed25519 public key, as SPKI PEM, the same every time", async () => {
    const r = await ctx.api.get<{ algorithm: string; public_key: string }>("/agent/server-key");
    expect(r.status).toBe(200);
    expect(r.body.algorithm).toBe("Ed25519");
    expect(r.body.public_key).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n?$/);
    expect(createPublicKey(r.body.public_key).asymmetricKeyType).toBe("ed25519");
    expect((await ctx.api.get<{ public_key: string }>("/agent/server-key")).body.public_key).toBe(r.body.public_key);
  });
});

describe("connection", () => {
  test("refused as `unauthorized`: wrong token, another device's token, unknown device, malformed handshake", async () => {
    const a = await ctx.device();
    const b = await ctx.device();
    const seeded = (await rawRow<{ id: string }>(ctx.dbFile, "select id from devices where name = 'fw-ams-02'"))!.id;
    const cases: [string, unknown][] = [
      ["a wrong token", { device_id: a.creds.device_id, device_token: `dev_${"x".repeat(40)}` }],
      ["another device's token", { device_id: a.creds.device_id, device_token: b.creds.device_token }],
      ["an unknown device", { device_id: randomUUID(), device_token: a.creds.device_token }],
      ["a device that never enrolled (no token)", { device_id: seeded, device_token: a.creds.device_token }],
      ["no credentials", {}],
      ["a device id that is not a uuid", { device_id: a.name, device_token: a.creds.device_token }],
      ["a token that is not a string", { device_id: a.creds.device_id, device_token: 12345 }],
      ["an empty token", { device_id: a.creds.device_id, device_token: "" }],
    ];
    for (const [label, auth] of cases) expect(await refusal(ctx.url, auth), label).toBe("unauthorized");
    expect((await deviceRow(ctx.dbFile, a.creds.device_id))!.online).toBe(0);
    // The right credentials still work.
    (await ctx.connect(a.creds)).close();
  });

  test("`pending_approval` until approved, `disabled` when disabled, `deleted` once deleted", async () => {
    const name = uniqueName();
    const enrolled = await ctx.enroll({ registration_token: (await reg("globex")), name, version: "1.9.1" });
    expect(enrolled.body.status).toBe("PENDING");
    const creds = { device_id: enrolled.body.device_id, device_token: enrolled.body.device_token, version: "1.9.1" };
    expect(await refusal(ctx.url, creds)).toBe("pending_approval");

    await rawRun(ctx.dbFile, "update devices set status = 'ENABLED' where id = ?", creds.device_id);
    const agent = await ctx.connect(creds);
    agent.close();
    await waitFor("the device to go offline", async () => (await deviceRow(ctx.dbFile, creds.device_id))!.online === 0);

    await rawRun(ctx.dbFile, "update devices set status = 'DISABLED' where id = ?", creds.device_id);
    expect(await refusal(ctx.url, creds)).toBe("disabled");

    await rawRun(ctx.dbFile, "update devices set deleted_at = ? where id = ?", Date.now(), creds.device_id);
    expect(await refusal(ctx.url, creds)).toBe("deleted");
    expect((await deviceRow(ctx.dbFile, creds.device_id))!.online).toBe(0);
  });

  test("connecting marks the device online and records the version; disconnecting marks it offline", async () => {
    const { creds } = await ctx.device(uniqueName(), "1.9.1");
    expect((await deviceRow(ctx.dbFile, creds.device_id))).toMatchObject({ online: 0, agent_version: "1.9.1", last_heartbeat_at: null });
    const before = Date.now();
    const agent = await ctx.connect(creds, "2.1.0");
    const row = await waitFor("the device to be online", async () => {
      const r = (await deviceRow(ctx.dbFile, creds.device_id))!;
      return r.online === 1 ? r : undefined;
    });
    expect(row.agent_version).toBe("2.1.0");
    expect(row.last_heartbeat_at).toBeGreaterThanOrEqual(before - 5);

    agent.close();
    await waitFor("the device to go offline", async () => (await deviceRow(ctx.dbFile, creds.device_id))!.online === 0);
    expect((await deviceRow(ctx.dbFile, creds.device_id))!.agent_version).toBe("2.1.0");
  });

  test("a second connection replaces the first: the first is disconnected, the device stays online, tasks go to the newcomer", async () => {
    const { name, creds } = await ctx.device();
    const first = await ctx.connect(creds);
    const second = await ctx.connect(creds);
    expect(await first.disconnected()).toBe("io server disconnect");
    // The newcomer is served, and the first one's departure did not mark the device offline.
    expect(await heartbeat(second)).toEqual({ ok: true });
    expect(second.connected).toBe(true);
    expect((await deviceRow(ctx.dbFile, creds.device_id))!.online).toBe(1);

    const task = await ctx.issue(name, "SYNC");
    await acceptNext(ctx, second, task.code);
    expect(first.queued).toBe(0);
    expect((await deviceRow(ctx.dbFile, creds.device_id))!.online).toBe(1);
  });

  test("taken for dead by another node while its agents stayed connected: at the server's next beat their devices are its own again and get what waited", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const node = await waitFor("the device to be online", async () => {
      const r = (await deviceRow(ctx.dbFile, creds.device_id))!;
      return r.online === 1 ? r.node_id : undefined;
    });
    // What another node does to one silent past the limit (lib/server/liveness.ts): its devices
    // are released, their connections here still up, and its row goes (in this order here, so
    // that a beat in between finds the row and the release both, never the row alone).
    await rawRun(ctx.dbFile, "update devices set online = false, node_id = null where node_id = ?", node);
    await rawRun(ctx.dbFile, "delete from nodes where id = ?", node);
    const task = await ctx.issue(name, "SYNC");
    // The server beats every 5 s.
    const row = await waitFor("the device to be online again", async () => {
      const r = (await deviceRow(ctx.dbFile, creds.device_id))!;
      return r.online === 1 ? r : undefined;
    }, 30_000);
    expect(row.node_id).toBe(node);
    expect(await rawRow(ctx.dbFile, "select id from nodes where id = ?", node)).toEqual({ id: node });
    await acceptNext(ctx, agent, task.code);
    expect(agent.connected).toBe(true);
  });
});

describe("dispatch", () => {
  test("a task issued to a connected agent arrives signed; it verifies with the published key; seq increases", async () => {
    const { name, creds } = await ctx.device();
    const other = await ctx.device();
    const key = await serverKey();
    const agent = await ctx.connect(creds);

    const t1 = await ctx.issue(name, "PING", { payload: { host: "1.1.1.1", count: 2 } });
    const d1 = await agent.nextTask();
    expect(Object.keys(d1.msg).sort()).toEqual(["code", "envelope", "expires_at", "payload", "seq", "signature", "type"]);
    expect(d1.msg).toMatchObject({ code: t1.code, type: "PING", payload: { host: "1.1.1.1", count: 2 }, expires_at: t1.expires_at });
    expect(d1.msg.seq).toEqual(expect.any(Number));
    const v1 = verifyTaskMessage(d1.msg, { publicKey: key, deviceId: creds.device_id, lastSeq: 0 });
    expect(v1).toEqual({
      ok: true,
      envelope: { code: t1.code, type: "PING", payload: { host: "1.1.1.1", count: 2 }, device_id: creds.device_id, exp: Math.floor(Date.parse(t1.expires_at) / 1000), seq: d1.msg.seq },
    });
    expect(d1.msg.signature).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(d1.msg.envelope).toMatch(/^[A-Za-z0-9_-]+$/);

    // The signature covers the envelope, and the envelope binds the device and the sequence.
    const envelope = JSON.parse(Buffer.from(d1.msg.envelope, "base64url").toString("utf8")) as Record<string, unknown>;
    const forged: TaskMessage = {
      ...d1.msg,
      payload: { host: "10.0.0.1", count: 2 },
      envelope: Buffer.from(JSON.stringify({ ...envelope, payload: { host: "10.0.0.1", count: 2 } })).toString("base64url"),
    };
    expect(verifyTaskMessage(forged, { publicKey: key, deviceId: creds.device_id, lastSeq: 0 })).toEqual({ ok: false, reason: "bad signature" });
    expect(verifyTaskMessage(d1.msg, { publicKey: key, deviceId: other.creds.device_id, lastSeq: 0 })).toEqual({ ok: false, reason: "envelope is for another device" });
    expect(verifyTaskMessage(d1.msg, { publicKey: key, deviceId: creds.device_id, lastSeq: d1.msg.seq })).toMatchObject({ ok: false });
    d1.ack({ accepted: true });
    await waitForStatus(ctx.dbFile, t1.code, "IN_PROGRESS");

    const t2 = await ctx.issue(name, "SYNC");
    const d2 = await agent.nextTask();
    expect(d2.msg).toMatchObject({ code: t2.code, type: "SYNC", payload: null });
    expect(d2.msg.seq).toBeGreaterThan(d1.msg.seq);
    expect(verifyTaskMessage(d2.msg, { publicKey: key, deviceId: creds.device_id, lastSeq: d1.msg.seq })).toMatchObject({ ok: true, envelope: { seq: d2.msg.seq } });
    // The row holds the last number reserved, at or above every number sent.
    expect((await deviceRow(ctx.dbFile, creds.device_id))!.last_seq).toBeGreaterThanOrEqual(d2.msg.seq);
    d2.ack({ accepted: true });
    await waitForStatus(ctx.dbFile, t2.code, "IN_PROGRESS");
  });

  test("sequence numbers come from a block reserved at connect: a dispatch writes none; a reconnect, or a block used up, starts above every number reserved before", async () => {
    const { name, creds } = await ctx.device();
    const lastSeq = async () => (await deviceRow(ctx.dbFile, creds.device_id))!.last_seq;
    const agent = await ctx.connect(creds);
    expect(await lastSeq()).toBe(SEQ_BLOCK);
    // Each dispatch is numbered from the block in memory: consecutive, and the row untouched.
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) seqs.push((await acceptNext(ctx, agent, (await ctx.issue(name, "SYNC")).code)).msg.seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect(await lastSeq()).toBe(SEQ_BLOCK);

    // The agent leaves and comes back: the rest of its block is never sent; the new one starts above it.
    agent.close();
    await waitFor("the device to be offline", async () => (await deviceRow(ctx.dbFile, creds.device_id))?.online === 0);
    const again = await ctx.connect(creds);
    expect(await lastSeq()).toBe(2 * SEQ_BLOCK);
    expect((await acceptNext(ctx, again, (await ctx.issue(name, "SYNC")).code)).msg.seq).toBe(SEQ_BLOCK + 1);

    // More waiting than a block holds: the connect's block numbers the first of them, a block
    // reserved when it ran out the rest, all in order.
    again.close();
    await waitFor("the device to be offline", async () => (await deviceRow(ctx.dbFile, creds.device_id))?.online === 0);
    const waiting: string[] = [];
    for (let i = 0; i < SEQ_BLOCK + 20; i++) waiting.push((await ctx.issue(name, "SYNC")).code);
    const third = await ctx.connect(creds);
    const got = [];
    for (let i = 0; i < waiting.length; i++) got.push((await third.nextTask()).msg);
    expect(got.map((m) => m.code)).toEqual(waiting);
    expect(got.map((m) => m.seq)).toEqual(waiting.map((_, i) => 2 * SEQ_BLOCK + 1 + i));
    expect(await lastSeq()).toBe(4 * SEQ_BLOCK);
  });

  test("protocol 2: one signature covers a batch, each task carries its own inclusion proof; a proof proves only its own task", async () => {
    const key = await serverKey();
    const a = await ctx.device();
    const b = await ctx.device();
    const old = await ctx.device();
    const agentA = await ctx.connect(a.creds, "2.0.0", { protocol: 2 });
    // A newer agent than this server speaks what the server speaks; garbage means protocol 1.
    const agentB = await ctx.connect(b.creds, "3.0.0", { protocol: 7 });
    const agentOld = await ctx.connect(old.creds, "1.9.1", { protocol: "two" });

    const r = await ctx.api.post<{ tasks: { code: string }[] }>("/tasks", { as: { token: ctx.tokens.acmeWrite! }, json: { type: "SYNC", targets: { devices: [a.name, b.name, old.name] } } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const [da, db, dOld] = [await agentA.nextTask(), await agentB.nextTask(), await agentOld.nextTask()];
    expect(Object.keys(da.msg).sort()).toEqual(["code", "envelope", "expires_at", "payload", "proof", "seq", "signature", "type"]);
    expect(db.msg.signature).toBe(da.msg.signature);
    expect(da.msg.proof).toMatchObject({ size: 2, path: [expect.stringMatching(/^[A-Za-z0-9_-]{43}$/)] });
    expect(new Set([da.msg.proof!.index, db.msg.proof!.index])).toEqual(new Set([0, 1]));
    expect(dOld.msg.proof).toBeUndefined();
    for (const [d, creds] of [
      [da, a.creds],
      [db, b.creds],
      [dOld, old.creds],
    ] as const) {
      expect(verifyTaskMessage(d.msg, { publicKey: key, deviceId: creds.device_id, lastSeq: 0 })).toMatchObject({ ok: true, envelope: { code: d.msg.code, device_id: creds.device_id } });
    }

    // Another task's proof, a proof left out, a proof pointing at the other leaf: none verifies.
    const bad = { ok: false, reason: "bad signature" };
    expect(verifyTaskMessage({ ...da.msg, proof: db.msg.proof }, { publicKey: key, deviceId: a.creds.device_id, lastSeq: 0 })).toEqual(bad);
    expect(verifyTaskMessage({ ...da.msg, proof: undefined }, { publicKey: key, deviceId: a.creds.device_id, lastSeq: 0 })).toEqual(bad);
    expect(verifyTaskMessage({ ...da.msg, proof: { ...da.msg.proof!, index: 1 - da.msg.proof!.index } }, { publicKey: key, deviceId: a.creds.device_id, lastSeq: 0 })).toEqual(bad);
    // Nor does a protocol 1 signature dressed up as a batch of one.
    expect(verifyTaskMessage({ ...dOld.msg, proof: { index: 0, size: 1, path: [] } }, { publicKey: key, deviceId: old.creds.device_id, lastSeq: 0 })).toEqual(bad);
    for (const d of [da, db, dOld]) d.ack({ accepted: true });
    for (const t of r.body.tasks) await waitForStatus(ctx.dbFile, t.code, "IN_PROGRESS");
  });

  test("accepted: IN_PROGRESS, started now, the type's lease running (PING 2 min, RESTART 5 min)", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    for (const [type, minutes] of [
      ["PING", 2],
      ["RESTART", 5],
    ] as const) {
      const task = await ctx.issue(name, type, type === "PING" ? { payload: { host: "example.com" } } : {});
      const before = Date.now();
      await acceptNext(ctx, agent, task.code);
      const row = (await taskRow(ctx.dbFile, task.code))!;
      expect(row.started_at).toBeGreaterThanOrEqual(before - 5);
      expect(row.started_at).toBeLessThanOrEqual(Date.now());
      expect(row.lease_expires_at).toBe(row.started_at! + minutes * 60_000);
      expect(row).toMatchObject({ message: null, finished_at: null });
    }
  });

  test("refused: FAILED with the agent's reason as the message", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const task = await ctx.issue(name, "BACKUP");
    const d = await agent.nextTask();
    d.ack({ accepted: false, reason: "replayed sequence number 3" });
    const row = await waitForStatus(ctx.dbFile, task.code, "FAILED");
    expect(row.message).toContain("replayed sequence number 3");
    // The refusal is the agent's acknowledgement: PENDING → IN_PROGRESS → FAILED at one instant.
    expect(row.started_at).toBe(row.finished_at);
    expect(row.finished_at).toEqual(expect.any(Number));
    // A result for it afterwards does not revive it.
    expect(await result(agent, task.code, "COMPLETED", "done")).toEqual({ ok: false, error: "final" });
  });

  test("tasks issued while the agent is offline arrive on connect, oldest first, with increasing seq", async () => {
    const { name, creds } = await ctx.device();
    const issued = [];
    for (const type of ["SYNC", "BACKUP", "PULL"]) issued.push(await ctx.issue(name, type));
    for (const t of issued) expect((await taskRow(ctx.dbFile, t.code))!.status).toBe("PENDING");

    const agent = await ctx.connect(creds);
    const got = [await agent.nextTask(), await agent.nextTask(), await agent.nextTask()];
    expect(got.map((d) => d.msg.code)).toEqual(issued.map((t) => t.code));
    expect(got.map((d) => d.msg.type)).toEqual(["SYNC", "BACKUP", "PULL"]);
    for (let i = 1; i < got.length; i++) expect(got[i].msg.seq).toBeGreaterThan(got[i - 1].msg.seq);
    const key = await serverKey();
    let lastSeq = 0;
    for (const d of got) {
      expect(verifyTaskMessage(d.msg, { publicKey: key, deviceId: creds.device_id, lastSeq }).ok).toBe(true);
      lastSeq = d.msg.seq;
      d.ack({ accepted: true });
    }
    for (const t of issued) await waitForStatus(ctx.dbFile, t.code, "IN_PROGRESS");
  });

  test("agents connecting at once: each is let in or refused for its own reason, and gets its own waiting tasks", async () => {
    const devs = [];
    for (let i = 0; i < 6; i++) devs.push(await ctx.device());
    const waiting = new Map<string, string[]>();
    for (const [i, d] of devs.entries()) {
      const codes = [];
      for (let n = 0; n < i % 3; n++) codes.push((await ctx.issue(d.name, "SYNC")).code);
      waiting.set(d.creds.device_id, codes);
    }
    const [first, second] = devs;
    // Handshakes that arrive together are checked together; a refusal among them is its own.
    const [agents, refused] = await Promise.all([
      Promise.all(devs.map((d) => ctx.connect(d.creds))),
      Promise.all([
        refusal(ctx.url, { device_id: first.creds.device_id, device_token: second.creds.device_token }),
        refusal(ctx.url, { device_id: randomUUID(), device_token: first.creds.device_token }),
      ]),
    ]);
    expect(refused).toEqual(["unauthorized", "unauthorized"]);
    for (const [i, agent] of agents.entries()) {
      const codes = waiting.get(devs[i].creds.device_id)!;
      const got = [];
      while (got.length < codes.length) got.push((await agent.nextTask()).msg.code);
      expect(got, devs[i].name).toEqual(codes);
    }
    // Nothing else arrives: each agent got its own backlog and no other device's.
    await new Promise((r) => setTimeout(r, 300));
    for (const agent of agents) expect(agent.queued).toBe(0);
  });

  test(
    "no acknowledgement: the task stays PENDING past the ack timeout and is sent again on the next connect",
    async () => {
      const { name, creds } = await ctx.device();
      const first = await ctx.connect(creds);
      const task = await ctx.issue(name, "SYNC");
      const d1 = await first.nextTask();
      expect(d1.msg.code).toBe(task.code);
      // Never answered: nothing may change while the server waits, nor when it gives up.
      await expectStatusHeld(ctx.dbFile, task.code, "PENDING", ACK_TIMEOUT_MS + 1_000 - (Date.now() - d1.receivedAt));
      first.close();
      await waitFor("the device to go offline", async () => (await deviceRow(ctx.dbFile, creds.device_id))!.online === 0);

      const second = await ctx.connect(creds);
      const d2 = await second.nextTask();
      expect(d2.msg.code).toBe(task.code);
      expect(d2.msg.seq).toBeGreaterThan(d1.msg.seq);
      d2.ack({ accepted: true });
      await waitForStatus(ctx.dbFile, task.code, "IN_PROGRESS");
    },
    ACK_TIMEOUT_MS + 20_000,
  );
});

describe("results", () => {
  test("COMPLETED and FAILED are recorded with their message (up to 64 KiB)", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const ok = await ctx.issue(name, "SYNC");
    await acceptNext(ctx, agent, ok.code);
    const bad = await ctx.issue(name, "PULL");
    await acceptNext(ctx, agent, bad.code);

    expect(await result(agent, ok.code, "COMPLETED", "Configuration applied (revision 4242)")).toEqual({ ok: true });
    const long = `read /conf/config.xml: ${"x".repeat(64 * 1024 - 23)}`;
    expect(long).toHaveLength(64 * 1024);
    expect(await result(agent, bad.code, "FAILED", long)).toEqual({ ok: true });

    const done = (await taskRow(ctx.dbFile, ok.code))!;
    expect(done).toMatchObject({ status: "COMPLETED", message: "Configuration applied (revision 4242)" });
    expect(done.finished_at).toBeGreaterThanOrEqual(done.started_at!);
    const failed = (await taskRow(ctx.dbFile, bad.code))!;
    expect(failed).toMatchObject({ status: "FAILED", message: long });
    expect(failed.finished_at).toBeGreaterThanOrEqual(failed.started_at!);
  });

  test("the same result twice, or again after a reconnect, is acknowledged each time and recorded once", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const task = await ctx.issue(name, "SYNC");
    await acceptNext(ctx, agent, task.code);
    expect(await result(agent, task.code, "COMPLETED", "applied")).toEqual({ ok: true });
    const recorded = (await taskRow(ctx.dbFile, task.code))!;
    expect(recorded).toMatchObject({ status: "COMPLETED", message: "applied" });

    expect(await result(agent, task.code, "COMPLETED", "applied")).toEqual({ ok: true });
    agent.close();
    const again = await ctx.connect(creds);
    expect(await result(again, task.code, "COMPLETED", "applied")).toEqual({ ok: true });
    expect((await taskRow(ctx.dbFile, task.code))).toEqual(recorded);
  });

  test("another status after the task finished is `final` and changes nothing (completed, cancelled)", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const completed = await ctx.issue(name, "SYNC");
    await acceptNext(ctx, agent, completed.code);
    expect(await result(agent, completed.code, "COMPLETED", "applied")).toEqual({ ok: true });
    const row = (await taskRow(ctx.dbFile, completed.code))!;
    expect(await result(agent, completed.code, "FAILED", "on second thought")).toEqual({ ok: false, error: "final" });
    expect((await taskRow(ctx.dbFile, completed.code))).toEqual(row);

    // Delivered, never acknowledged, cancelled by an operator; the agent ran it anyway.
    const cancelled = await ctx.issue(name, "PUSH");
    const d = await agent.nextTask();
    expect(d.msg.code).toBe(cancelled.code);
    const cancel = await ctx.api.put<{ status: string }>(`/tasks/${cancelled.code}/cancel`, { as: { token: ctx.tokens.acmeWrite! } });
    expect(cancel.status).toBe(200);
    expect(cancel.body.status).toBe("CANCELLED");
    const cancelledRow = (await taskRow(ctx.dbFile, cancelled.code))!;
    expect(await result(agent, cancelled.code, "COMPLETED", "fragment merged")).toEqual({ ok: false, error: "final" });
    expect((await taskRow(ctx.dbFile, cancelled.code))).toEqual(cancelledRow);
    // Its late acknowledgement does not revive it either.
    d.ack({ accepted: true });
    expect(await heartbeat(agent)).toEqual({ ok: true });
    expect((await taskRow(ctx.dbFile, cancelled.code))).toEqual(cancelledRow);
  });

  test("another device's task, an unknown code or a task not yet dispatched is `not_found`; nothing changes", async () => {
    const a = await ctx.device();
    const b = await ctx.device();
    const agentA = await ctx.connect(a.creds);
    const agentB = await ctx.connect(b.creds);
    const theirs = await ctx.issue(b.name, "SYNC");
    await acceptNext(ctx, agentB, theirs.code);
    const theirRow = (await taskRow(ctx.dbFile, theirs.code))!;
    const globexTask = (await rawRow<{ code: string }>(ctx.dbFile, "select code from tasks where status = 'PENDING' and organization_id = ? limit 1", await orgId("globex")))!.code;
    const globexRow = (await taskRow(ctx.dbFile, globexTask))!;
    const scheduled = await ctx.issue(a.name, "BACKUP", { scheduled_at: new Date(Date.now() + 3_600_000).toISOString() });
    expect(scheduled.status).toBe("SCHEDULED");

    for (const code of [theirs.code, "ZZZZZZZZ", globexTask, scheduled.code]) {
      for (const status of ["COMPLETED", "FAILED"]) expect(await result(agentA, code, status, "not mine"), code).toEqual({ ok: false, error: "not_found" });
    }
    expect((await taskRow(ctx.dbFile, theirs.code))).toEqual(theirRow);
    expect((await taskRow(ctx.dbFile, globexTask))).toEqual(globexRow);
    expect((await taskRow(ctx.dbFile, scheduled.code))!.status).toBe("SCHEDULED");
    // Its own device is still heard.
    expect(await result(agentB, theirs.code, "COMPLETED", "applied")).toEqual({ ok: true });
  });

  test("malformed results are `invalid` and change nothing", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const task = await ctx.issue(name, "SYNC");
    await acceptNext(ctx, agent, task.code);
    const row = (await taskRow(ctx.dbFile, task.code))!;
    const good = { code: task.code, status: "COMPLETED", message: "applied" };
    const cases: [string, unknown][] = [
      ["null", null],
      ["a string", "COMPLETED"],
      ["an empty object", {}],
      ["an unknown status", { ...good, status: "DONE" }],
      ["a status that is not final", { ...good, status: "IN_PROGRESS" }],
      ["a lower-case status", { ...good, status: "completed" }],
      ["a code that is not 8 characters", { ...good, code: task.code.slice(0, 7) }],
      ["a code with symbols", { ...good, code: "abc-1234" }],
      ["a message that is not a string", { ...good, message: 42 }],
      ["a message over 64 KiB", { ...good, message: "x".repeat(64 * 1024 + 1) }],
    ];
    // A result without a message, or with a key the protocol does not name, is no malformed
    // message: it is recorded (tests/unit/agent-verbs.test.ts), as docs/agent-protocol.md §4 says.
    for (const [label, msg] of cases) expect(await agent.send("result", msg), label).toEqual({ ok: false, error: "invalid" });
    expect((await taskRow(ctx.dbFile, task.code))).toEqual(row);
    expect(await agent.send("result", good)).toEqual({ ok: true });
  });

  test("a result for a task still PENDING (its acknowledgement was lost) moves it to its final status", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const task = await ctx.issue(name, "RESTART");
    const d = await agent.nextTask();
    expect((await taskRow(ctx.dbFile, task.code))!.status).toBe("PENDING");
    expect(await result(agent, task.code, "COMPLETED", "Agent restart scheduled via rc.d")).toEqual({ ok: true });
    const row = (await taskRow(ctx.dbFile, task.code))!;
    expect(row).toMatchObject({ status: "COMPLETED", message: "Agent restart scheduled via rc.d" });
    expect(row.started_at).toEqual(expect.any(Number));
    expect(row.finished_at).toBeGreaterThanOrEqual(row.started_at!);
    // The acknowledgement turning up after all changes nothing.
    d.ack({ accepted: true });
    expect(await heartbeat(agent)).toEqual({ ok: true });
    expect((await taskRow(ctx.dbFile, task.code))).toEqual(row);
  });
});

describe("heartbeats and other events", () => {
  test("a heartbeat is acknowledged and records the time and the agent's version", async () => {
    const { creds } = await ctx.device(uniqueName(), "1.9.1");
    const agent = await ctx.connect(creds, "1.9.1");
    const before = Date.now();
    expect(await agent.send("heartbeat", { version: "1.9.2", uptime_seconds: 86_400 })).toEqual({ ok: true });
    const row = (await deviceRow(ctx.dbFile, creds.device_id))!;
    expect(row.agent_version).toBe("1.9.2");
    expect(row.last_heartbeat_at).toBeGreaterThanOrEqual(before - 5);
    expect(await agent.send("heartbeat", { version: "1.10.0" })).toEqual({ ok: true });
    expect((await deviceRow(ctx.dbFile, creds.device_id))!.agent_version).toBe("1.10.0");
  });

  test("a malformed heartbeat is `invalid` and changes nothing", async () => {
    const { creds } = await ctx.device();
    const agent = await ctx.connect(creds, "1.9.1");
    const row = (await deviceRow(ctx.dbFile, creds.device_id))!;
    const cases: [string, unknown][] = [
      ["null", null],
      ["a bare version string", "1.9.1"],
      ["an empty object", {}],
      ["an empty version", { version: "" }],
      ["a version with a space", { version: "1.9 beta" }],
      ["a 33-character version", { version: "1".repeat(33) }],
      ["negative uptime", { version: "1.9.1", uptime_seconds: -1 }],
      ["fractional uptime", { version: "1.9.1", uptime_seconds: 1.5 }],
      ["uptime as a string", { version: "1.9.1", uptime_seconds: "60" }],
      ["an extra field", { version: "1.9.1", load: 0.5 }],
    ];
    for (const [label, msg] of cases) expect(await agent.send("heartbeat", msg), label).toEqual({ ok: false, error: "invalid" });
    expect((await deviceRow(ctx.dbFile, creds.device_id))).toEqual(row);
  });

  test("an event outside the protocol is answered `invalid`; the connection carries on", async () => {
    const { creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    expect(await agent.send("hello", { version: "1.9.1" })).toEqual({ ok: false, error: "invalid" });
    expect(await agent.send("task", { code: "ABCDEFGH" })).toEqual({ ok: false, error: "invalid" });
    expect(await agent.send("results", { code: "ABCDEFGH", status: "COMPLETED", message: "" })).toEqual({ ok: false, error: "invalid" });
    expect(agent.connected).toBe(true);
    expect(await heartbeat(agent)).toEqual({ ok: true });
  });

  test("rate limit: a flooding agent is answered `rate_limited`, another agent at the same time is not", async () => {
    const flooder = await ctx.connect((await ctx.device()).creds);
    const neighbour = await ctx.connect((await ctx.device()).creds);
    const flood = Array.from({ length: 200 }, () => flooder.send<{ ok: boolean; error?: string }>("heartbeat", { version: "1.9.1" }, 15_000));
    const meanwhile = heartbeat(neighbour);
    const [answers, neighbours] = await Promise.all([Promise.all(flood), meanwhile]);
    expect(neighbours).toEqual({ ok: true });
    const ok = answers.filter((a) => a.ok).length;
    const limited = answers.filter((a) => !a.ok && a.error === "rate_limited").length;
    expect(ok + limited).toBe(200);
    // 40 events per 2 s window: at most two windows' worth get through a burst like this.
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(ok).toBeLessThanOrEqual(80);
    expect(limited).toBeGreaterThanOrEqual(120);
    // It lasts a window, not forever.
    await waitFor("the flooder to be heard again", async () => (await heartbeat(flooder)).ok, 5_000, 250);
  });
});

describe("disconnects and the console", () => {
  test("accepted, disconnected, reconnected: the result is accepted once and the task COMPLETED", async () => {
    const { name, creds } = await ctx.device();
    const first = await ctx.connect(creds);
    const task = await ctx.issue(name, "BACKUP");
    await acceptNext(ctx, first, task.code);
    first.close();
    await waitFor("the device to go offline", async () => (await deviceRow(ctx.dbFile, creds.device_id))!.online === 0);
    expect((await taskRow(ctx.dbFile, task.code))!.status).toBe("IN_PROGRESS");

    const second = await ctx.connect(creds);
    // What comes first on the new connection is the next task: the running one is not sent again.
    const next = await ctx.issue(name, "SYNC");
    expect((await second.nextTask()).msg.code).toBe(next.code);
    expect(await result(second, task.code, "COMPLETED", "Backup stored as config-1.xml.gz")).toEqual({ ok: true });
    expect((await taskRow(ctx.dbFile, task.code))).toMatchObject({ status: "COMPLETED", message: "Backup stored as config-1.xml.gz" });
    expect(await result(second, task.code, "COMPLETED", "Backup stored as config-1.xml.gz")).toEqual({ ok: true });
  });

  test("disabling a connected device in the console disconnects its agent at once, cancels what waited and fails what ran", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const running = await ctx.issue(name, "SYNC");
    await acceptNext(ctx, agent, running.code);
    const waiting = await ctx.issue(name, "PULL");
    expect((await agent.nextTask()).msg.code).toBe(waiting.code);

    await consoleAction("/devices", "disableDeviceAction", "app/(console)/devices/actions.ts", { id: creds.device_id });
    expect(await agent.disconnected(2_000)).toBe("io server disconnect");
    expect((await deviceRow(ctx.dbFile, creds.device_id))!.status).toBe("DISABLED");
    await waitFor("the device to go offline", async () => (await deviceRow(ctx.dbFile, creds.device_id))!.online === 0);
    expect((await taskRow(ctx.dbFile, waiting.code))).toMatchObject({ status: "CANCELLED", message: "Device disabled" });
    // Its agent can no longer report: a running task fails now rather than at the end of its lease.
    expect((await taskRow(ctx.dbFile, running.code))).toMatchObject({ status: "FAILED", message: "Device disabled while the task was running" });
    expect(await refusal(ctx.url, creds)).toBe("disabled");
  });

  test("deleting a connected device in the console disconnects its agent at once, fails what ran and revokes the token", async () => {
    const { name, creds } = await ctx.device();
    const agent = await ctx.connect(creds);
    const running = await ctx.issue(name, "SYNC");
    await acceptNext(ctx, agent, running.code);

    await consoleAction("/devices", "deleteDeviceAction", "app/(console)/devices/actions.ts", { id: creds.device_id });
    expect(await agent.disconnected(2_000)).toBe("io server disconnect");
    const row = (await deviceRow(ctx.dbFile, creds.device_id))!;
    // The hash stays so that only the token's holder is told "deleted" (asserted below).
    expect(row).toMatchObject({ online: 0 });
    expect(row.deleted_at).toEqual(expect.any(Number));
    expect((await taskRow(ctx.dbFile, running.code))).toMatchObject({ status: "FAILED", message: "Device deleted while the task was running" });
    expect(await refusal(ctx.url, creds)).toBe("deleted");
    // The name is free for a new enrollment.
    expect((await ctx.enroll({ registration_token: (await reg()), name, version: "1.9.1" })).status).toBe(201);
  });
});
