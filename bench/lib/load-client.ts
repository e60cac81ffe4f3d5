// The orchestrator's handle on a load process (bench/load.ts): typed requests over IPC.
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { IpcRequests, type IpcEvent } from "./ipc";
import { rssOf } from "./procs";

export type AgentReport = {
  received: number;
  acked: number;
  duplicates: number;
  errors: Record<string, number>;
  firstReceived: number;
  lastAcked: number;
  acks: [string, number][];
  connected: number;
};
export type SeenPatch = { receivedAt: number; /** When the server sent it, on the clock of `now()`. */ sent: number; truncated: boolean; rows: number; finals: string[] };

export class LoadProcess {
  private readonly requests: IpcRequests;
  private readonly listeners = new Set<(m: IpcEvent) => void>();

  private constructor(private readonly child: ChildProcess) {
    this.requests = new IpcRequests(child, "the load process", (m) => {
      for (const l of this.listeners) l(m);
    });
  }

  static start(name: string): Promise<LoadProcess> {
    const child = fork(join(import.meta.dirname, "..", "load.ts"), [name], {
      execArgv: ["--import", "tsx", "--max-old-space-size=4096"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const lp = new LoadProcess(child);
    return new Promise((resolve, reject) => {
      const off = lp.on((m) => {
        if (m.event === "ready") {
          off();
          resolve(lp);
        }
      });
      child.once("exit", (code) => reject(new Error(`the load process ${name} exited ${code} before it was ready`)));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  rss(): number {
    return rssOf(this.pid);
  }

  on(listener: (m: IpcEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private call<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    return this.requests.call<T>({ cmd, ...args });
  }

  /** `retry`: as the protocol prescribes (refusals 10–30 s later, transport failures with backoff), until `deadlineMs`. */
  connectAgents(args: { url: string; credsFile: string; from: number; to: number; answer: boolean; retry?: boolean; localAddress?: string; deadlineMs?: number }) {
    return this.call<{ connected: number; failures: Record<string, number>; ms: number; connectMs: number[]; refusals: Record<string, number>; retries: number }>("agents.connect", args);
  }
  /** Whether agents acknowledge the tasks they receive, and answer them with a result. */
  answering(accept: boolean, answer: boolean) {
    return this.call<null>("agents.answer", { accept, answer });
  }
  awaitAgents(args: { connected: number; received: number; timeoutMs: number }) {
    return this.call<{ ms: number; allConnectedMs: number | null; connected: number; received: number; refusals: Record<string, number>; retries: number }>("agents.await", args);
  }
  notify(on: boolean) {
    return this.call<null>("agents.notify", { on });
  }
  resetAgents() {
    return this.call<null>("agents.reset");
  }
  agentReport(acks = false) {
    return this.call<AgentReport>("agents.report", { acks });
  }
  heartbeats(windowMs: number) {
    return this.call<{ rtts: number[]; failed: number; sent: number; ratePerSecond: number }>("agents.heartbeats", { windowMs });
  }
  closeAgents() {
    return this.call<null>("agents.close");
  }
  connectLive(args: { url: string; n: number; cookie?: string }) {
    return this.call<{ connected: number; failures: string[] }>("live.connect", args);
  }
  liveReport() {
    return this.call<SeenPatch[][]>("live.report");
  }
  closeLive() {
    return this.call<null>("live.close");
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      this.child.once("exit", () => resolve());
      this.child.disconnect();
      setTimeout(() => this.child.kill("SIGKILL"), 5_000).unref();
    });
  }
}
