// What an agent's connect reads, for many agents at once: their credentials checked against
// their devices (lib/devices/enrollment.ts) and their devices' waiting tasks
// (lib/tasks/agent-verbs.ts). A fleet connects together after a restart, and each agent still
// gets its own answer and its own tasks.
import { randomUUID } from "node:crypto";
import { describe, expect, test } from "vitest";
import { sha256 } from "../../lib/crypto";
import { authenticateDevices } from "../../lib/devices/enrollment";
import { pendingForDevices } from "../../lib/tasks/agent-verbs";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { rawRun } from "../support/raw";
import { taskInStatus } from "./helpers";

const db = await freshDb();

describe("authenticateDevices", () => {
  test("one call, many handshakes: each answered for its own device, in order", async () => {
    const { org } = await makeOrg(db);
    const [ok, pending, disabled, deleted, tokenless] = await makeDevices(db, org.id, 5, { prefix: "cn" });
    const token = (d: { id: string }) => `dev_${d.id.replaceAll("-", "")}`;
    for (const d of [ok, pending, disabled, deleted]) await rawRun(db, "update devices set token_hash = ? where id = ?", sha256(token(d)), d.id);
    await rawRun(db, "update devices set status = 'PENDING' where id = ?", pending.id);
    await rawRun(db, "update devices set status = 'DISABLED' where id = ?", disabled.id);
    await rawRun(db, "update devices set deleted_at = ? where id = ?", Date.now(), deleted.id);
    const hs = (d: { id: string }, t = token(d)) => ({ device_id: d.id, device_token: t });

    const answers = await authenticateDevices({ db }, [
      hs(ok),
      hs(ok, token(pending)),
      hs(pending),
      hs(disabled),
      hs(deleted),
      hs(deleted, token(ok)),
      hs(tokenless, token(ok)),
      hs({ id: randomUUID() }, token(ok)),
      { device_id: ok.name, device_token: token(ok) },
      null,
      hs(ok),
    ]);
    expect(answers.map((a) => (a.ok ? a.device.id : a.reason))).toEqual([
      ok.id,
      "unauthorized",
      "pending_approval",
      "disabled",
      "deleted",
      // The token is checked before anything about the device is told.
      "unauthorized",
      "unauthorized",
      "unauthorized",
      "unauthorized",
      "unauthorized",
      ok.id,
    ]);
    expect(await authenticateDevices({ db }, [])).toEqual([]);
  });
});

describe("pendingForDevices", () => {
  test("the PENDING tasks of the devices asked for, oldest first, read 500 devices at a time", async () => {
    const { org, actor } = await makeOrg(db);
    const [a, b, c, other] = await makeDevices(db, org.id, 4, { prefix: "pd" });
    const a1 = await taskInStatus(db, actor, a.name, "PENDING");
    const b1 = await taskInStatus(db, actor, b.name, "PENDING");
    await taskInStatus(db, actor, a.name, "IN_PROGRESS");
    await taskInStatus(db, actor, b.name, "COMPLETED");
    await taskInStatus(db, actor, other.name, "PENDING");
    const a2 = await taskInStatus(db, actor, a.name, "PENDING");

    const codes = async (ids: string[]) => (await pendingForDevices({ db }, ids)).map((t) => t.code);
    expect(await codes([b.id, a.id, c.id])).toEqual([a1.code, b1.code, a2.code]);
    // a and b in different reads of 500, a asked twice: still one list, oldest first, each task once.
    const filler = Array.from({ length: 600 }, () => randomUUID());
    expect(await codes([b.id, ...filler, a.id, a.id])).toEqual([a1.code, b1.code, a2.code]);
    expect(await codes([c.id])).toEqual([]);
    expect(await codes([])).toEqual([]);
  });

  test("not a task past its expiry that the clock has not expired yet: the agent would refuse it, and it would end FAILED", async () => {
    const { org, actor } = await makeOrg(db);
    const [d] = await makeDevices(db, org.id, 1, { prefix: "px" });
    const late = await taskInStatus(db, actor, d.name, "PENDING");
    const fresh = await taskInStatus(db, actor, d.name, "PENDING");
    await rawRun(db, "update tasks set expires_at = ? where id = ?", Date.now() - 1_000, late.id);
    expect((await pendingForDevices({ db }, [d.id])).map((t) => t.code)).toEqual([fresh.code]);
  });
});
