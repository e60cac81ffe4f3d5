// The orchestrator's handle on the PostgreSQL helper process (bench/pg-side.ts): typed
// requests over IPC.
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { SideCommand } from "../pg-side";
import type { DomainRead } from "./reads";
import { IpcRequests } from "./ipc";
import type { Captured } from "./sql";

type Reply = { id?: number; ok?: boolean; result?: unknown; error?: string; event?: string };

export class PgSide {
  private readonly requests: IpcRequests;

  private constructor(private readonly child: ChildProcess) {
    this.requests = new IpcRequests(child, "the PostgreSQL helper");
  }

  /** Forks the helper with DATABASE_URL = `anyDatabaseUrl`: only its dialect matters. */
  static start(anyDatabaseUrl: string): Promise<PgSide> {
    const child = fork(join(import.meta.dirname, "..", "pg-side.ts"), [], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, DATABASE_URL: anyDatabaseUrl },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      // Captured parameters keep their types (numbers, strings, null) across the process boundary.
      serialization: "advanced",
    });
    return new Promise((resolve, reject) => {
      const onReady = (m: Reply) => {
        if (m.event !== "ready") return;
        child.off("message", onReady);
        resolve(new PgSide(child));
      };
      child.on("message", onReady);
      child.once("exit", (code) => reject(new Error(`the PostgreSQL helper exited ${code} before it was ready`)));
    });
  }

  private call<T>(command: SideCommand): Promise<T> {
    return this.requests.call<T>(command);
  }

  /** Migrates the database and installs its triggers, as a node does when it starts. */
  migrate(url: string): Promise<null> {
    return this.call({ cmd: "migrate", url });
  }

  /** The statements `read` issues on PostgreSQL, in order, and how many tasks it listed. */
  capture(url: string, read: DomainRead): Promise<{ statements: Captured; items: number }> {
    return this.call({ cmd: "capture", url, read });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once("exit", () => resolve());
      this.child.disconnect();
      setTimeout(() => this.child.kill("SIGKILL"), 5_000).unref();
    });
  }
}
