// The PostgreSQL of a benchmark run (--pg): a throwaway cluster in a temporary folder, durable
// like a production one (fsync on), with a database per copy of the bench's data and the
// helper process that works in PostgreSQL's dialect (bench/pg-side.ts). Stopped and removed
// at the end of the run, also when it fails or is interrupted.
import { adminStatement } from "../../scripts/lib/pg-plain";
import { startThrowawayPg, type ThrowawayPg } from "../../scripts/lib/throwaway-pg";
import { copyToPg } from "./pg-copy";
import { PgSide } from "./pg-side";
import { now } from "./stats";

export type BenchPg = {
  readonly side: PgSide;
  readonly port: number;
  /** A fresh database holding what the SQLite `file` holds, migrated and analysed: its URL. */
  copyOf(file: string, name: string): Promise<string>;
  /** Once every copy is made: a checkpoint, so that the copies' writes are not flushed during a measurement. */
  settle(): Promise<void>;
  stop(): Promise<void>;
};

/** Stops the cluster when the process exits or is interrupted, whatever else happens. */
function stopOnExit(cluster: ThrowawayPg): () => void {
  const stop = () => cluster.stop();
  const interrupted = (signal: NodeJS.Signals) => {
    stop();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("exit", stop);
  process.on("SIGINT", interrupted);
  process.on("SIGTERM", interrupted);
  return () => {
    process.off("exit", stop);
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
  };
}

export async function startBenchPg(log: (line: string) => void): Promise<BenchPg> {
  const cluster = await startThrowawayPg({ fsync: true });
  const forget = stopOnExit(cluster);
  let side: PgSide;
  try {
    side = await PgSide.start(cluster.url());
  } catch (e) {
    forget();
    cluster.stop();
    throw e;
  }
  log(`PostgreSQL on port ${cluster.port} (fsync on), data in ${cluster.dir}`);
  return {
    side,
    port: cluster.port,
    copyOf: async (file, name) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      const t = now();
      await adminStatement(cluster.url(), `CREATE DATABASE ${name}`);
      const url = cluster.url(name);
      await side.migrate(url);
      const copied = await copyToPg(file, url);
      // VACUUM as well as ANALYZE: a freshly loaded table has no visibility map (index-only
      // scans would visit every row's page) and would be vacuumed by autovacuum — its insert
      // threshold — in the middle of the measurements; a database in service is vacuumed.
      await adminStatement(url, "VACUUM (ANALYZE)");
      log(`  ${name}: ${copied.rows.toLocaleString("en-US")} rows of ${copied.tables} tables copied, vacuumed and analysed in ${((now() - t) / 1000).toFixed(1)} s`);
      return url;
    },
    settle: () => adminStatement(cluster.url(), "CHECKPOINT"),
    stop: async () => {
      await side.stop();
      cluster.stop();
      forget();
    },
  };
}
