// Many agents connected at once, from load processes of their own: do they all get in, what
// does the server's memory become, and are heartbeats still answered quickly. Agents retry
// as the protocol prescribes (docs/agent-protocol.md §2).
import { LoadProcess } from "../lib/load-client";
import { sleep, summary, type Summary } from "../lib/stats";

export type ConnectionFigures = {
  wanted: number;
  connected: number;
  /** Agents that never got in, by their last refusal. */
  failures: Record<string, number>;
  /** Every refusal or transport failure on the way in, retried ones included. */
  refusals: Record<string, number>;
  retries: number;
  /** From the first socket opened to the last connected. */
  allConnectedMs: number;
  connect: Summary;
  rssBefore: number;
  rssConnected: number;
  rssAfterClose: number;
  heartbeat: Summary;
  heartbeatFailed: number;
  heartbeatsPerSecond: number;
  loadRss: number;
  processes: number;
};

const add = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

/**
 * `count` agents, `perProcess` to a load process (each from a loopback address of its own, so
 * that no one address runs out of ports), all connecting at once; then one heartbeat each,
 * spread over the window.
 */
export async function measureConnections(opts: {
  url: string;
  credsFile: string;
  count: number;
  perProcess?: number;
  heartbeatWindowMs: number;
  rss: () => number;
  log: (l: string) => void;
}): Promise<ConnectionFigures> {
  const per = opts.perProcess ?? opts.count;
  const loads = await Promise.all(Array.from({ length: Math.ceil(opts.count / per) }, () => LoadProcess.start("connections")));
  try {
    const rssBefore = opts.rss();
    const many = loads.length > 1;
    const parts = await Promise.all(
      loads.map((load, i) =>
        load.connectAgents({
          url: opts.url,
          credsFile: opts.credsFile,
          from: i * per,
          to: Math.min(opts.count, (i + 1) * per),
          answer: true,
          retry: true,
          ...(many ? { localAddress: `127.0.0.${2 + i}` } : {}),
        }),
      ),
    );
    const failures: Record<string, number> = {};
    const refusals: Record<string, number> = {};
    for (const p of parts) {
      add(failures, p.failures);
      add(refusals, p.refusals);
    }
    const connected = parts.reduce((n, p) => n + p.connected, 0);
    const retries = parts.reduce((n, p) => n + p.retries, 0);
    const allConnectedMs = Math.max(...parts.map((p) => p.ms));
    opts.log(
      `  ${connected}/${opts.count} connected in ${(allConnectedMs / 1000).toFixed(1)} s` +
        `${Object.keys(refusals).length ? `; refused on the way (then retried): ${JSON.stringify(refusals)}, ${retries} retries` : ""}` +
        `${Object.keys(failures).length ? `; never: ${JSON.stringify(failures)}` : ""}`,
    );
    // Let the connection handlers' own work (marking online, pending tasks) settle.
    await sleep(1_000);
    const rssConnected = opts.rss();
    const beats = await Promise.all(loads.map((load) => load.heartbeats(opts.heartbeatWindowMs)));
    const rtts = beats.flatMap((b) => b.rtts);
    const heartbeat = summary(rtts);
    const failed = beats.reduce((n, b) => n + b.failed, 0);
    const ratePerSecond = beats.reduce((n, b) => n + b.ratePerSecond, 0);
    opts.log(`  heartbeats: ${rtts.length} acknowledged at ${Math.round(ratePerSecond)}/s, p99 ${heartbeat.p99.toFixed(1)} ms, ${failed} failed`);
    const loadRss = loads.reduce((n, load) => n + load.rss(), 0);
    await Promise.all(loads.map((load) => load.closeAgents()));
    await sleep(1_000);
    return {
      wanted: opts.count,
      connected,
      failures,
      refusals,
      retries,
      allConnectedMs,
      connect: summary(parts.flatMap((p) => p.connectMs)),
      rssBefore,
      rssConnected,
      rssAfterClose: opts.rss(),
      heartbeat,
      heartbeatFailed: failed,
      heartbeatsPerSecond: ratePerSecond,
      loadRss,
      processes: loads.length,
    };
  } finally {
    await Promise.all(loads.map((load) => load.stop()));
  }
}
