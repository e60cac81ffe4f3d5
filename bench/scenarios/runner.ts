// The transaction runner itself, in this process, on a file of its own (no server): what a
// queued async transaction costs over a synchronous better-sqlite3 one, and how long a read
// waits while a 10,000-task fan-out is being written. The second is the reason for the
// runner's design (docs/architecture.md): reads run on their own connection while the
// fan-out's transaction lets the loop turn between stretches of its inserts.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closeDatabase, openSqliteFile, writerConnection } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import type { Actor } from "../../lib/actor";
import { issueFanout } from "../../lib/tasks/issue";
import { listTasks } from "../../lib/tasks/queries";
import { DEMO_USERS } from "../../lib/demo/seed";
import { addHistory, buildBase } from "../lib/data";
import { median, now, sleep, summary, type Summary } from "../lib/stats";

export type RunnerFigures = {
  /** µs per trivial write transaction, medians of alternating rounds. */
  asyncTxUs: number;
  syncTxUs: number;
  /** ms from when a read was due until it answered: during a fan-out, and with nothing happening. */
  readDuringFanout: Summary;
  readIdle: Summary;
  fanoutMs: number;
  devices: number;
};

const ROUNDS = 7;
const TX_PER_ROUND = 2_000;
const READ_EVERY_MS = 5;

export async function measureRunner(opts: { devices: number; fillerTasks: number; log: (l: string) => void }): Promise<RunnerFigures> {
  const dir = mkdtempSync(join(tmpdir(), "taskwire-runner-"));
  const file = join(dir, "runner.db");
  // The benchmark's own organization and devices, and a history to insert among.
  const base = await buildBase(file, { secret: randomBytes(32).toString("base64url"), devices: opts.devices, agents: 0 });
  addHistory(file, base, opts.fillerTasks, { agents: 0 });
  const db = openSqliteFile(file);
  try {
    const w = writerConnection(db);
    const actor: Actor = { organizationId: base.organizationId, userId: base.adminId, role: "ADMIN", label: DEMO_USERS.admin };

    // A trivial write, queued and awaited, against the same write as one synchronous transaction.
    const touch = w.prepare("update org_settings set auto_approve = ? where organization_id = ?");
    const syncTx = w.transaction((v: number) => touch.run(v, base.organizationId));
    const asyncRounds: number[] = [];
    const syncRounds: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      let t0 = now();
      for (let i = 0; i < TX_PER_ROUND; i++) syncTx(i & 1);
      syncRounds.push(((now() - t0) * 1000) / TX_PER_ROUND);
      t0 = now();
      for (let i = 0; i < TX_PER_ROUND; i++) await withTransaction({ db }, () => void touch.run(i & 1, base.organizationId));
      asyncRounds.push(((now() - t0) * 1000) / TX_PER_ROUND);
    }

    // Reads every few ms: with nothing happening, then while the fan-out is written.
    const readsOver = async (work: Promise<unknown>): Promise<number[]> => {
      const waits: number[] = [];
      let done = false;
      void work.finally(() => (done = true));
      while (!done) {
        const due = now();
        await listTasks({ db, actor }, { limit: 30 });
        waits.push(now() - due);
        await sleep(READ_EVERY_MS);
      }
      return waits;
    };
    const readIdle = await readsOver(sleep(1_000));
    const t0 = now();
    const fanout = issueFanout({ db, actor }, { type: "PING", payload: { host: "192.0.2.1" }, targets: { all: true } });
    // The read loop's own timer lets the fan-out start first; what follows waits for the loop.
    const readDuring = await readsOver(fanout);
    const fanoutMs = now() - t0;
    opts.log(`  runner: ${median(asyncRounds).toFixed(1)} µs per queued transaction, ${median(syncRounds).toFixed(1)} µs synchronous; ${readDuring.length} reads during a ${Math.round(fanoutMs)} ms fan-out, longest wait ${Math.max(...readDuring).toFixed(1)} ms`);
    return {
      asyncTxUs: median(asyncRounds),
      syncTxUs: median(syncRounds),
      readDuringFanout: summary(readDuring),
      readIdle: summary(readIdle),
      fanoutMs,
      devices: opts.devices,
    };
  } finally {
    await closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  }
}
