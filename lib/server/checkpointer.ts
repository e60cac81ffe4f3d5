import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { writerConnection, type Db } from "../../db/client";

// In WAL mode SQLite copies the log back into the database file ("checkpoints") inside the
// commit that pushes the log past 1,000 pages: that commit then holds the event loop for
// the whole copy — measured at 200–300 ms after a 10,000-task fan-out on a million-task
// file, which writes ~17,000 pages of log. Here a worker thread with its own connection
// checkpoints in the background, without waiting for (or blocking) the server's readers and
// writers, and the writer connection does not checkpoint at all: any threshold a large
// fan-out's commit can cross would put the copy back on the event loop. Should the worker
// fail or stop, the writer checkpoints again by itself.

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
  sqlite.pragma("wal_autocheckpoint = 0");
  // The log file keeps the size of the largest transaction it held (SQLite's default), and
  // is reused from its start after each checkpoint: truncating it back happens inside the
  // first commit after a reset, and freeing hundreds of megabytes there held the event loop
  // 60–150 ms. It goes when the server stops (the last connection checkpoints and removes it).
  sqlite.pragma("journal_size_limit = -1");
  const fallBack = (why: string) => {
    if (stopping) return;
    console.error(`The background checkpointer stopped (${why}); checkpointing in the server's connection again`);
    if (sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
  };
  worker.on("message", (m: { error?: string }) => {
    if (!m.error) return;
    console.error(`Background checkpoint failed: ${m.error}`);
    fallBack("a checkpoint failed");
  });
  worker.on("error", (e) => fallBack(e.message));
  worker.on("exit", (code) => fallBack(`exit ${code}`));
  worker.unref();
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        stopping = true;
        // Held from here: with all else closed, an unreferenced worker let the process end
        // before its exit was heard, and the database was never closed.
        worker.ref();
        worker.once("exit", () => resolve());
        worker.postMessage("stop");
        setTimeout(() => void worker.terminate(), 5_000).unref();
      }),
  };
}
