// A server restart under a connected fleet: every agent comes back on its own (transport
// backoff at most 30 s apart, as the protocol prescribes) and is sent every task that waited
// for it. The tasks were issued before the restart and left unacknowledged, so each one is
// still PENDING and must go out on its device's connect.
import type { Proc } from "../lib/procs";
import { LoadProcess } from "../lib/load-client";
import { now, sleep } from "../lib/stats";

export type RestartFigures = {
  agents: number;
  tasks: number;
  /** From SIGTERM to the new server listening. */
  downMs: number;
  /** From listening to every agent connected again (null: not within the timeout). */
  allBackMs: number | null;
  /** From listening to every waiting task received by its agent. */
  allDispatchedMs: number;
  connected: number;
  received: number;
  refusals: Record<string, number>;
  retries: number;
};

export async function measureRestart(opts: {
  url: string;
  credsFile: string;
  count: number;
  /** Issues one task to each of the `count` devices; answers how many it issued. */
  issue: () => Promise<number>;
  stop: () => Promise<void>;
  start: () => Promise<Proc>;
  timeoutMs: number;
  log: (l: string) => void;
}): Promise<RestartFigures> {
  const load = await LoadProcess.start("restart");
  try {
    const c = await load.connectAgents({ url: opts.url, credsFile: opts.credsFile, from: 0, to: opts.count, answer: false, retry: true });
    if (c.connected !== opts.count) throw new Error(`before the restart only ${c.connected}/${opts.count} agents connected`);
    // The agents hear nothing of these tasks: they stay PENDING across the restart.
    await load.answering(false, false);
    const tasks = await opts.issue();
    await sleep(2_000);
    await load.resetAgents();
    await load.answering(true, true);
    const down = now();
    await opts.stop();
    await opts.start();
    const downMs = now() - down;
    const back = await load.awaitAgents({ connected: opts.count, received: tasks, timeoutMs: opts.timeoutMs });
    opts.log(
      `  restart: down ${(downMs / 1000).toFixed(1)} s; ${back.connected}/${opts.count} back in ${back.allConnectedMs === null ? "—" : `${(back.allConnectedMs / 1000).toFixed(1)} s`}, ` +
        `${back.received}/${tasks} waiting tasks received in ${(back.ms / 1000).toFixed(1)} s (${back.retries} retries after refusals${Object.keys(back.refusals).length ? `; ${JSON.stringify(back.refusals)}` : ""})`,
    );
    await load.closeAgents();
    return {
      agents: opts.count,
      tasks,
      downMs,
      allBackMs: back.allConnectedMs,
      allDispatchedMs: back.ms,
      connected: back.connected,
      received: back.received,
      refusals: back.refusals,
      retries: back.retries,
    };
  } finally {
    await load.stop();
  }
}
