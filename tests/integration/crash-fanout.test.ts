// A fan-out is all or nothing even when the process dies in the middle of writing it: the
// real production server is SIGKILLed at five moments of a 10,000-task fan-out, restarted
// on the same file, and holds either the whole fan-out or no trace of it — tasks, fan-out
// row and bookkeeping alike.
import { rawRow, rawRows } from "../support/raw";
import { afterAll, expect, test } from "vitest";
import { createApiToken } from "../../lib/orgs/orgs";
import { makeDevices, makeOrg } from "../support/factories";
import { startTestServer, type TestServer } from "../support/server";

const DEVICES = 10_000;
let server: TestServer | undefined;
afterAll(() => server?.stop());

/** What the file holds: fan-outs with their tasks, and whether the bookkeeping matches them. */
async function census(file: string) {
  const one = async (text: string) => Number((await rawRow<{ n: number }>(file, text))!.n);
  const rows = await rawRows<{ id: number; total: number; open: number; tasks: number }>(
    file,
    "select f.id, f.total, f.open_tasks as open, (select count(*) from tasks t where t.fanout_id = f.id) as tasks from fanouts f order by f.id",
  );
  const taskRows = await one("select count(*) as n from tasks");
  const counted = await one("select coalesce(sum(n), 0) as n from task_counts");
  const pending = await one("select count(*) as n from tasks where status = 'PENDING'");
  return { fanouts: rows, taskRows, counted, pending };
}

test(
  "SIGKILL at five moments of a 10,000-task fan-out: after a restart, the whole fan-out or no trace of it",
  async () => {
    let token = "";
    server = await startTestServer({
      seed: async (db) => {
        const { org, actor } = await makeOrg(db, { slug: "crash" });
        await makeDevices(db, org.id, DEVICES, { prefix: "crash" });
        token = (await createApiToken({ db, actor }, { name: "crash test", role: "READ_WRITE" })).secret;
      },
    });
    const running = server;
    const post = () =>
      fetch(`${running.url}/api/v1/tasks`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "PING", payload: { host: "192.0.2.1" }, targets: { all: true } }),
      });

    // How long one fan-out takes here, now: the kills are spread over it.
    const started = performance.now();
    const reply = await post();
    const took = performance.now() - started;
    expect(reply.status).toBe(201);

    const outcomes: string[] = [];
    for (const fraction of [0.1, 0.3, 0.5, 0.7, 0.9]) {
      const before = (await census(running.dbFile));
      const pending = post().catch(() => null);
      await new Promise((r) => setTimeout(r, took * fraction));
      await running.kill("SIGKILL");
      await pending;

      const after = (await census(running.dbFile));
      const whole = (await after).fanouts.length === (await before).fanouts.length + 1;
      if (!whole) expect((await after).fanouts, `killed at ${fraction} of ${Math.round(took)} ms`).toEqual((await before).fanouts);
      // Every fan-out on the file is whole: all its tasks, and its count of open ones.
      for (const f of (await after).fanouts) expect({ tasks: f.tasks, open: f.open }).toEqual({ tasks: DEVICES, open: DEVICES });
      expect((await after).taskRows).toBe((await after).fanouts.length * DEVICES);
      expect((await after).counted).toBe((await after).taskRows);
      expect((await after).pending).toBe((await after).taskRows);
      outcomes.push(`${fraction}: ${whole ? "whole" : "none"}`);
      await running.restart();
    }
    console.log(`fan-out of ${DEVICES} took ${Math.round(took)} ms; killed at ${outcomes.join(", ")}`);
  },
  10 * 60_000,
);
