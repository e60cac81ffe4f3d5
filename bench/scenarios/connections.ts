// Many agents connected at once, from a load process of their own: do they all get in, what
// does the server's memory become, and are heartbeats still answered quickly.
import { LoadProcess } from "../lib/load-client";
import { sleep, summary, type Summary } from "../lib/stats";

export type ConnectionFigures = {
  wanted: number;
  connected: number;
  failures: Record<string, number>;
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
};

export async function measureConnections(opts: { url: string; credsFile: string; count: number; heartbeatWindowMs: number; rss: () => number; log: (l: string) => void }): Promise<ConnectionFigures> {
  const load = await LoadProcess.start("connections");
  try {
    const rssBefore = opts.rss();
    const c = await load.connectAgents({ url: opts.url, credsFile: opts.credsFile, from: 0, to: opts.count, answer: true });
    opts.log(`  ${c.connected}/${opts.count} connected in ${(c.ms / 1000).toFixed(1)} s${Object.keys(c.failures).length ? `, refused: ${JSON.stringify(c.failures)}` : ""}`);
    // Let the connection handlers' own work (marking online, pending tasks) settle.
    await sleep(1_000);
    const rssConnected = opts.rss();
    const hb = await load.heartbeats(opts.heartbeatWindowMs);
    const heartbeat = summary(hb.rtts);
    opts.log(`  heartbeats: ${hb.rtts.length} acknowledged at ${Math.round(hb.ratePerSecond)}/s, p99 ${heartbeat.p99.toFixed(1)} ms, ${hb.failed} failed`);
    const loadRss = load.rss();
    await load.closeAgents();
    await sleep(1_000);
    return {
      wanted: opts.count,
      connected: c.connected,
      failures: c.failures,
      allConnectedMs: c.ms,
      connect: summary(c.connectMs),
      rssBefore,
      rssConnected,
      rssAfterClose: opts.rss(),
      heartbeat,
      heartbeatFailed: hb.failed,
      heartbeatsPerSecond: hb.ratePerSecond,
      loadRss,
    };
  } finally {
    await load.stop();
  }
}
