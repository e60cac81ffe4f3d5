// Nodes on one database: which devices each holds, and what becomes of them when a node dies
// or leaves (lib/server/liveness.ts, lib/devices/connection.ts). Several nodes run only on
// PostgreSQL; the rules are the same SQL on both, so both run them.
import { eq, inArray } from "drizzle-orm";
import pg from "pg";
import { describe, expect, test, vi } from "vitest";
import { runnerOf } from "../../db/client";
import { devices, nodes, tasks } from "../../db/schema";
import { markOffline, markOnline, reassertPresence, SEQ_BLOCK } from "../../lib/devices/connection";
import { NODE_DEAD_MS, startLiveness, type Liveness } from "../../lib/server/liveness";
import { waitFor } from "../support/agents";
import { onPg } from "../support/databases";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { failingWrites, rawRun } from "../support/raw";
import { taskInStatus } from "./helpers";

const db = await freshDb();

const state = async (ids: string[]) =>
  Object.fromEntries((await db.select({ id: devices.id, online: devices.online, nodeId: devices.nodeId }).from(devices).where(inArray(devices.id, ids))).map((d) => [d.id, { online: d.online, nodeId: d.nodeId }]));

/** Makes a node look silent since `ms` ago, as one killed then would. */
const silence = (node: Liveness, ms: number) => rawRun(db, "update nodes set seen_at = ? where id = ?", Date.now() - ms, node.nodeId);

describe("nodes and their devices", () => {
  test("a node's devices stay its own while it beats; a device back through another node is not taken offline by the first", async () => {
    const { org } = await makeOrg(db);
    const [x, y] = await makeDevices(db, org.id, 2, { prefix: "pr" });
    const a = await startLiveness({ db }, { sole: false, beatMs: 60_000 });
    await markOnline({ db }, a.nodeId, [{ deviceId: x.id }, { deviceId: y.id }]);
    // A second node joins: the first is alive, its devices stay online and its own.
    const b = await startLiveness({ db }, { sole: false, beatMs: 60_000 });
    expect(await state([x.id, y.id])).toEqual({ [x.id]: { online: true, nodeId: a.nodeId }, [y.id]: { online: true, nodeId: a.nodeId } });
    // x reconnects through b; a then sees its old connection close.
    await markOnline({ db }, b.nodeId, [{ deviceId: x.id }]);
    await markOffline({ db }, a.nodeId, [x.id, y.id]);
    expect(await state([x.id, y.id])).toEqual({ [x.id]: { online: true, nodeId: b.nodeId }, [y.id]: { online: false, nodeId: null } });
    await a.stop();
    await b.stop();
  });

  test("a node silent for 30 s is dead: the next beat of another takes its row and marks its devices offline", async () => {
    const { org } = await makeOrg(db);
    const [x] = await makeDevices(db, org.id, 1, { prefix: "dead" });
    const a = await startLiveness({ db }, { sole: false, beatMs: 60_000 });
    await markOnline({ db }, a.nodeId, [{ deviceId: x.id }]);
    const b = await startLiveness({ db }, { sole: false, beatMs: 50 });
    // Silent for less than the limit: still alive.
    await silence(a, NODE_DEAD_MS - 5_000);
    await new Promise((r) => setTimeout(r, 300));
    expect((await state([x.id]))[x.id]).toEqual({ online: true, nodeId: a.nodeId });
    // Silent past it, as after a SIGKILL.
    await silence(a, NODE_DEAD_MS + 1_000);
    try {
      await waitFor("the dead node's device to go offline", async () => (await state([x.id]))[x.id].online === false, 30_000);
      // Its row goes in the same beat, or — when that beat's delete read a's row before the
      // silence above moved its time back, which a live node's beats never do — in the next.
      await waitFor("the dead node's row to go", async () => (await db.select().from(nodes).where(eq(nodes.id, a.nodeId))).length === 0, 30_000);
      expect((await state([x.id]))[x.id]).toEqual({ online: false, nodeId: null });
    } finally {
      await b.stop();
    }
  });

  test("a device online without a node (a row from before nodes were recorded) goes offline at a start; beats look only at devices with a node", async () => {
    const { org } = await makeOrg(db);
    const [x, y] = await makeDevices(db, org.id, 2, { prefix: "unowned" });
    const a = await startLiveness({ db }, { sole: false, beatMs: 50 });
    await markOnline({ db }, a.nodeId, [{ deviceId: y.id }]);
    await rawRun(db, "update devices set online = true, node_id = null where id = ?", x.id);
    // Beats of a live node: neither its own device nor the unowned one changes.
    await new Promise((r) => setTimeout(r, 300));
    expect(await state([x.id, y.id])).toEqual({ [x.id]: { online: true, nodeId: null }, [y.id]: { online: true, nodeId: a.nodeId } });
    const b = await startLiveness({ db }, { sole: false, beatMs: 60_000 });
    expect(await state([x.id, y.id])).toEqual({ [x.id]: { online: false, nodeId: null }, [y.id]: { online: true, nodeId: a.nodeId } });
    await a.stop();
    await b.stop();
  });

  test("a node that leaves takes its devices offline at once, and its row says when it left", async () => {
    const { org } = await makeOrg(db);
    const [x] = await makeDevices(db, org.id, 1, { prefix: "leave" });
    const a = await startLiveness({ db }, { sole: false, beatMs: 60_000 });
    const b = await startLiveness({ db }, { sole: false, beatMs: 60_000 });
    await markOnline({ db }, a.nodeId, [{ deviceId: x.id }]);
    const before = Date.now();
    await a.stop();
    expect((await state([x.id]))[x.id]).toEqual({ online: false, nodeId: null });
    const [row] = await db.select().from(nodes).where(eq(nodes.id, a.nodeId));
    expect(row.leftAt!.getTime()).toBeGreaterThanOrEqual(before);
    expect(row.seenAt.getTime()).toBe(row.leftAt!.getTime());
    await b.stop();
  });

  test("a start that finds another node alive had no downtime: no lease is held; one that finds none holds those near their end", async () => {
    const { org, actor } = await makeOrg(db);
    const [x] = await makeDevices(db, org.id, 1, { prefix: "lease" });
    const running = await taskInStatus(db, actor, x.name, "IN_PROGRESS");
    const leaseOf = async () => (await db.select({ at: tasks.leaseExpiresAt }).from(tasks).where(eq(tasks.id, running.id)))[0].at!.getTime();
    const a = await startLiveness({ db }, { sole: false, beatMs: 60_000 });
    // Ten seconds of lease left: within the grace a start without any node alive would give.
    const lease = Date.now() + 10_000;
    await rawRun(db, "update tasks set lease_expires_at = ? where id = ?", lease, running.id);
    const b = await startLiveness({ db }, { sole: false, beatMs: 60_000 });
    expect({ extended: b.extended, graced: b.graced }).toEqual({ extended: 0, graced: 0 });
    expect(await leaseOf()).toBe(lease);
    await a.stop();
    await b.stop();
    // Both gone: the next start had no node alive, and holds the lease for reconnecting agents.
    const c = await startLiveness({ db }, { sole: false, beatMs: 60_000 });
    expect(c.graced).toBeGreaterThanOrEqual(1);
    expect(await leaseOf()).toBeGreaterThanOrEqual(lease + 40_000);
    await c.stop();
  });

  test("nodes that start together after a downtime lengthen the leases it ate into once", async () => {
    const { org, actor } = await makeOrg(db);
    const [x] = await makeDevices(db, org.id, 1, { prefix: "together" });
    const running = await taskInStatus(db, actor, x.name, "IN_PROGRESS");
    const leaseOf = async () => (await db.select({ at: tasks.leaseExpiresAt }).from(tasks).where(eq(tasks.id, running.id)))[0].at!.getTime();
    // Every node gone a minute ago, this lease ten minutes from now: a minute of downtime to give back.
    const downAt = Date.now() - 60_000;
    const lease = Date.now() + 600_000;
    await rawRun(db, "update nodes set seen_at = ?, left_at = ?", downAt, downAt);
    await rawRun(db, "update tasks set lease_expires_at = ? where id = ?", lease, running.id);
    const started = await Promise.all([1, 2, 3].map(() => startLiveness({ db }, { sole: false, beatMs: 60_000 })));
    expect(started.filter((n) => n.extended > 0)).toHaveLength(1);
    const given = (await leaseOf()) - lease;
    expect(given).toBeGreaterThanOrEqual(60_000);
    expect(given).toBeLessThan(120_000);
    for (const n of started) await n.stop();
  });

  test("a node taken for dead while it lived finds its row gone at its next beat; its connections are then written over the rows", async () => {
    const { org } = await makeOrg(db);
    const [x, y, z, w, v] = await makeDevices(db, org.id, 5, { prefix: "taken" });
    const a = await startLiveness({ db }, { sole: false, beatMs: 50 });
    // b beats too: a judges the others every 50 ms, however long the test takes.
    const b = await startLiveness({ db }, { sole: false, beatMs: 1_000 });
    const beats: boolean[] = [];
    a.afterEachBeat(async (lost) => void beats.push(lost));
    await markOnline({ db }, a.nodeId, [{ deviceId: x.id }, { deviceId: y.id }, { deviceId: z.id }, { deviceId: w.id }, { deviceId: v.id }]);
    await waitFor("a beat of a", () => beats.length > 0, 30_000);
    expect(beats.every((lost) => !lost)).toBe(true);

    // Another node took a for dead (a stalled past NODE_DEAD_MS): its row gone, its devices released.
    const seen = beats.length;
    await rawRun(db, "delete from nodes where id = ?", a.nodeId);
    await rawRun(db, "update devices set online = false, node_id = null where node_id = ?", a.nodeId);
    // z reconnected through b meanwhile; w's agent went away, and its disconnect was not recorded.
    await markOnline({ db }, b.nodeId, [{ deviceId: z.id }]);
    await rawRun(db, "update devices set online = true, node_id = ? where id = ?", a.nodeId, w.id);
    // v was disabled on another node; the news of it did not reach a.
    await rawRun(db, "update devices set status = 'DISABLED' where id = ?", v.id);
    // (A beat under way when the row went may still report it kept.)
    await waitFor("a beat of a that finds its row gone", () => beats.slice(seen).includes(true), 30_000);
    expect(await db.select({ id: nodes.id }).from(nodes).where(eq(nodes.id, a.nodeId))).toHaveLength(1);
    // Written again: the beats after it keep it.
    const found = beats.lastIndexOf(true);
    await waitFor("a's beat after", () => beats.length > found + 1, 30_000);
    expect(beats.slice(found + 1).every((lost) => !lost)).toBe(true);

    // What a's connections say: x, y, z and v are connected there; w is not.
    const res = await reassertPresence({ db }, a.nodeId, [x.id, y.id, z.id, v.id]);
    expect(res.online.sort()).toEqual([x.id, y.id].sort());
    expect(res.offline).toBe(1);
    expect(res.elsewhere).toEqual([z.id]);
    expect(res.refused).toEqual([v.id]);
    expect(await state([x.id, y.id, z.id, w.id, v.id])).toEqual({
      [x.id]: { online: true, nodeId: a.nodeId },
      [y.id]: { online: true, nodeId: a.nodeId },
      [z.id]: { online: true, nodeId: b.nodeId },
      [w.id]: { online: false, nodeId: null },
      [v.id]: { online: false, nodeId: null },
    });
    // Nothing left to write: a second look changes nothing.
    expect(await reassertPresence({ db }, a.nodeId, [x.id, y.id, z.id, v.id])).toEqual({ online: [], offline: 0, elsewhere: [z.id], refused: [v.id] });
    await a.stop();
    await b.stop();
  });

  test("a node whose beats failed does not take the others for dead at its first beat back: they may not have reached the database either", async () => {
    const { org } = await makeOrg(db);
    const [x] = await makeDevices(db, org.id, 1, { prefix: "cutoff" });
    const b = await startLiveness({ db }, { sole: false, beatMs: 60_000 });
    await markOnline({ db }, b.nodeId, [{ deviceId: x.id }]);
    const a = await startLiveness({ db }, { sole: false, beatMs: 50 });
    let recorded = 0;
    a.afterEachBeat(async () => void recorded++);
    await waitFor("a beat of a", () => recorded > 0, 30_000);
    // a's beats fail (the database refuses its writes), and b falls silent past the limit meanwhile.
    const restore = await failingWrites(db, "nodes", "UPDATE", "database is unreachable", `NEW.id = '${a.nodeId}'`);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await waitFor("a failed beat", () => errors.mock.calls.some((c) => String(c[0]).includes("Recording that the server is alive failed")), 30_000);
      await silence(b, NODE_DEAD_MS + 1_000);
      const before = recorded;
      await restore();
      await waitFor("beats of a recorded again", () => recorded >= before + 3, 30_000);
    } finally {
      errors.mockRestore();
    }
    // b's device is still b's: a judges again only NODE_DEAD_MS after its beats came back.
    expect((await state([x.id]))[x.id]).toEqual({ online: true, nodeId: b.nodeId });
    await a.stop();
    await b.stop();
  });

  test("a device disabled or deleted between its handshake and its connect's write is not marked online, and is named to be closed", async () => {
    const { org } = await makeOrg(db);
    const [x, y, z] = await makeDevices(db, org.id, 3, { prefix: "late" });
    await rawRun(db, "update devices set status = 'DISABLED' where id = ?", x.id);
    await rawRun(db, "update devices set deleted_at = ? where id = ?", Date.now(), y.id);
    const result = await markOnline({ db }, "node-a", [{ deviceId: x.id }, { deviceId: y.id }, { deviceId: z.id }]);
    // Only the device marked online has its block of sequence numbers reserved.
    expect({ ...result, refused: [...result.refused].sort() }).toEqual({ elsewhere: [], refused: [x.id, y.id].sort(), seqs: new Map([[z.id, SEQ_BLOCK]]) });
    expect(await state([x.id, y.id, z.id])).toEqual({ [x.id]: { online: false, nodeId: null }, [y.id]: { online: false, nodeId: null }, [z.id]: { online: true, nodeId: "node-a" } });
  });

  test.skipIf(!onPg)("a device connecting through two nodes at once: the one that commits second reads the first's and closes its connection there", async () => {
    const { org } = await makeOrg(db);
    const [x] = await makeDevices(db, org.id, 1, { prefix: "race" });
    // Node A's connect of x: its transaction has the row and has not committed yet.
    const nodeA = new pg.Client({ connectionString: (runnerOf(db) as { url: string }).url });
    await nodeA.connect();
    try {
      await nodeA.query("BEGIN");
      await nodeA.query("SELECT id FROM devices WHERE id = $1 FOR NO KEY UPDATE", [x.id]);
      let settled = false;
      const viaB = markOnline({ db }, "node-b", [{ deviceId: x.id }], { elsewhere: true }).finally(() => (settled = true));
      const waiting = async () => Number((await nodeA.query("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")).rows[0].n);
      while (!settled && (await waiting()) === 0) await new Promise((r) => setTimeout(r, 20));
      expect(settled).toBe(false);
      await nodeA.query("UPDATE devices SET online = true, node_id = 'node-a' WHERE id = $1", [x.id]);
      await nodeA.query("COMMIT");
      // B read after A's commit: A's connection is the older one, and goes.
      expect(await viaB).toEqual({ elsewhere: [x.id], refused: [], seqs: new Map([[x.id, SEQ_BLOCK]]) });
    } finally {
      await nodeA.end();
    }
    expect((await state([x.id]))[x.id]).toEqual({ online: true, nodeId: "node-b" });
  });
});
