import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { writerConnection, type Db } from "../../db/client";

// In WAL mode SQLite copies the log back into the database file ("checkpoints") inside the
// commit that pushes the log past 1,000 pages: that commit then holds the event loop for
// the whole copy — measured at 200–300 ms after a 10,000-task fan-out on a million-task
// file. Here a worker thread with its own connection checkpoints in the background, without
// waiting for (or blocking) the server's readers and writers; the server's connection keeps
// a far larger automatic checkpoint only as a backstop, should the worker fall behind or die.

/** Pages of log after which the server's own connection checkpoints anyway (~40 MB). */
export const BACKSTOP_PAGES = 10_000;
const DEFAULT_PAGES = 1_000;

const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
const tick = () => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message || e) });
  }
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on("message", (m) => {
  if (m !== "stop") return;
  clearInterval(timer);
  tick();
  db.close();
  parentPort.close();
});
`;

export type Checkpointer = { stop: () => Promise<void> };

export function startCheckpointer(db: Db, file: string, opts: { intervalMs?: number } = {}): Checkpointer {
  if (file === ":memory:") return { stop: async () => {} };
  // The writer connection commits, so it is the one that would checkpoint in a commit.
  const sqlite = writerConnection(db);
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { file, driver: createRequire(import.meta.url).resolve("better-sqlite3"), intervalMs: opts.intervalMs ?? 500 },
  });
  let stopping = false;
  sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  // A log that was reset is truncated back to this size rather than kept at its peak.
  sqlite.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  const fallBack = (why: string) => {
    if (stopping) return;
    console.error(`The background checkpointer stopped (${why}); checkpointing in the server's connection again`);
    if (sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
  };
  worker.on("message", (m: { error?: string }) => m.error && console.error(`Background checkpoint failed: ${m.error}`));
  worker.on("error", (e) => fallBack(e.message));
  worker.on("exit", (code) => fallBack(`exit ${code}`));
  worker.unref();
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        stopping = true;
        worker.once("exit", () => resolve());
        worker.postMessage("stop");
        setTimeout(() => void worker.terminate(), 5_000).unref();
      }),
  };
}
