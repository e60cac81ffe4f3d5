import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Db } from "../../db/client";
import { startNginx, type RunningNginx } from "../../scripts/lib/nginx";
import { freePort } from "../../scripts/lib/throwaway-pg";
import { waitFor } from "./agents";
import { seededDatabase, spawnServer, type ServerProcess } from "./server";

/** The node a /metrics text is from: every series carries the node's id as a label. */
export const nodeIdIn = (metrics: string): string | undefined => /node="([^"]+)"/.exec(metrics)?.[1];

export type TestCluster = {
  /** nginx in front, round robin over the nodes. */
  url: string;
  /** Each node, reachable on its own too. */
  nodes: ServerProcess[];
  databaseUrl: string;
  /**
   * Waits until nginx sends requests to every node again. A node it found down (killed, or
   * still starting) gets no new connection for its fail_timeout, even once it is back.
   */
  routedToAll: () => Promise<void>;
  stop: () => Promise<void>;
};

/**
 * Several nodes of the real production server on one seeded PostgreSQL database, started side
 * by side, with nginx in front (scripts/lib/nginx.ts, the configuration docs/deploy.md shows).
 * Every node knows the public URL as nginx's and trusts its forwarded address.
 */
export async function startTestCluster(opts: { nodes?: number; seed?: (db: Db) => Promise<void> | void; env?: Record<string, string> } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "taskwire-cluster-"));
  const target = await seededDatabase(opts.seed);
  const listen = await freePort();
  const publicUrl = `http://127.0.0.1:${listen}`;
  const env = { BETTER_AUTH_URL: publicUrl, TASKWIRE_TRUST_PROXY: "true", ...opts.env };
  const nodes: ServerProcess[] = [];
  let nginx: RunningNginx | undefined;
  const stop = async () => {
    await nginx?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
    await target.drop();
  };
  try {
    const started = await Promise.allSettled(Array.from({ length: opts.nodes ?? 3 }, () => spawnServer(target.url, env)));
    for (const s of started) if (s.status === "fulfilled") nodes.push(s.value);
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    nginx = await startNginx({ dir, listen, upstreams: nodes.map((n) => Number(new URL(n.url).port)) });
  } catch (e) {
    await stop();
    throw e;
  }
  // A node that does not answer within 5 s (or a request that fails) names no node this time.
  const nodeId = async (url: string) =>
    fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })
      .then(async (r) => nodeIdIn(await r.text()))
      .catch(() => undefined);
  const routedToAll = async () => {
    const ids = await Promise.all(nodes.map((n) => nodeId(n.url)));
    if (ids.includes(undefined)) throw new Error("A node does not answer on its own address: nginx cannot route to it");
    const seen = new Set<string | undefined>();
    // Each round-robin turn may land anywhere; nginx tries a node it holds down once its fail_timeout is over.
    await waitFor("nginx to route to every node", async () => (seen.add(await nodeId(publicUrl)), ids.every((id) => seen.has(id))), 60_000, 100);
  };
  return { url: publicUrl, nodes, databaseUrl: target.url, routedToAll, stop };
}
