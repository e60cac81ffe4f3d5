import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { SERVER_BUNDLE } from "./build-server";
import { ensureBuild } from "./ensure-build";
import { NGINX_HINT, nginxBin, startNginx, type RunningNginx } from "./lib/nginx";
import { freePort, INSTALL_HINT, pgBinDir, startThrowawayPg, type ThrowawayPg } from "./lib/throwaway-pg";
import { wholeNumberVar } from "../lib/env";

// `npm run demo:cluster`: the product as several nodes, on this machine, from what Debian's
// `postgresql` and `nginx` packages install — a throwaway PostgreSQL in a data folder of its
// own, three nodes of server.ts on it, nginx in front (round robin), the demo seeded and the
// simulated fleets connected through nginx, so they spread over the nodes. Ctrl+C stops all
// of it and removes the data folder.

const NODES = 3;
const DEMO_FLEETS = ["acme", "globex"] as const;

const flags = z.array(z.string()).max(0, "npm run demo:cluster takes no arguments (set PORT for nginx's port)").safeParse(process.argv.slice(2));
const port = wholeNumberVar(0, 65535).safeParse(process.env.PORT);
if (!flags.success || !port.success) {
  console.error(flags.success ? `PORT: ${port.error!.issues[0].message}` : flags.error.issues[0].message);
  process.exit(2);
}
const missing = [pgBinDir() ? null : INSTALL_HINT, nginxBin() ? null : NGINX_HINT].filter(Boolean);
if (missing.length) {
  console.error(missing.join("\n"));
  process.exit(1);
}

ensureBuild();
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), "taskwire-cluster-"));
let pg: ThrowawayPg | undefined;
let nginx: RunningNginx | undefined;
let stopping = false;

const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await nginx?.stop().catch(() => {});
  const exits = children.map((c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once("exit", () => r()))));
  for (const c of children) c.kill("SIGTERM");
  await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 15_000))]);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  pg?.stop();
  rmSync(dir, { recursive: true, force: true });
  process.exit(code);
};
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

try {
  // Durable like a real one (fsync on), in its own data folder, on a free port.
  pg = await startThrowawayPg({ fsync: true });
  const databaseUrl = pg.url();
  console.log(`PostgreSQL is running on port ${pg.port} (data in ${pg.dir}).`);

  console.log("Seeding the demo organizations, fleets and task history…");
  process.env.DATABASE_URL = databaseUrl;
  // A process's dialect is read from DATABASE_URL when the database modules load: only now.
  const { seedDemoAt } = await import("./lib/seed-demo");
  const { newSecret, sharedSecret } = await import("../lib/server/secret");
  const { DEMO_PASSWORD, DEMO_USERS } = await import("../lib/demo/seed");
  const { saveState } = await import("../lib/agents/sim/state");
  // The session secret every node will read from the database, made here first.
  const agents = await seedDemoAt(databaseUrl, async (db) => {
    process.env.BETTER_AUTH_SECRET = await sharedSecret(db, "auth-secret", newSecret);
  });

  const listen = port.data ?? 3000;
  const publicUrl = `http://127.0.0.1:${listen}`;
  // The nodes share the secrets through the database (server_secrets): none is given here.
  const nodeEnv: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: "production", HOST: "127.0.0.1", DATABASE_URL: databaseUrl, BETTER_AUTH_URL: publicUrl, TASKWIRE_TRUST_PROXY: "true" };
  delete nodeEnv.BETTER_AUTH_SECRET;
  const nodePorts = await Promise.all(Array.from({ length: NODES }, () => freePort()));
  await Promise.all(nodePorts.map((p, i) => startChild(`node ${i + 1}`, [SERVER_BUNDLE], { ...nodeEnv, PORT: String(p) }, /listening on/)));
  nginx = await startNginx({ dir: join(dir, "nginx"), listen, upstreams: nodePorts });

  for (const slug of DEMO_FLEETS) {
    const list = agents[slug] ?? [];
    if (!list.length) continue;
    const path = join(dir, `agents-${slug}.json`);
    saveState(path, { url: nginx.url, agents: list });
    void startChild(
      `agents ${slug}`,
      ["--import", "tsx", "scripts/agents.ts", "--url", nginx.url, "--count", String(list.length), "--state", path, "--from-state", "--offline-rate", "0.02", "--fail-rate", "0.05"],
      process.env,
    );
  }

  console.log(`
Taskwire runs as ${NODES} nodes behind nginx at ${nginx.url}
  nodes: ${nodePorts.map((p) => `http://127.0.0.1:${p}`).join(", ")} (each answers /readyz and /metrics)

  Sign in as ${DEMO_USERS.admin} (ADMIN of acme and globex)
          or ${DEMO_USERS.viewer} (READ_ONLY in acme)
  Password: ${DEMO_PASSWORD}

  The simulated agents connect through nginx, round robin: each node holds about a third.
  Issue a fan-out and watch it live whichever node your browser reached.

Stop with Ctrl+C (the database goes with it).`);
} catch (e) {
  console.error(`The cluster demo could not start: ${(e as Error).message}`);
  await stop(1);
}

/** Starts a child whose output is prefixed with `name`; resolves once a line matches `ready` (or at once). */
function startChild(name: string, args: string[], env: NodeJS.ProcessEnv, ready?: RegExp): Promise<void> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
  children.push(child);
  const prefix = (chunk: Buffer) => chunk.toString().trimEnd().split("\n").map((l) => `[${name}] ${l}`).join("\n");
  return new Promise((resolve, reject) => {
    if (!ready) resolve();
    child.stdout!.on("data", (c: Buffer) => {
      console.log(prefix(c));
      if (ready?.test(c.toString())) resolve();
    });
    child.stderr!.on("data", (c: Buffer) => console.error(prefix(c)));
    child.once("exit", (code, signal) => {
      reject(new Error(`${name} exited ${code ?? signal}`));
      if (!stopping) {
        console.error(`[${name}] exited ${code ?? signal}; stopping the cluster`);
        void stop(1);
      }
    });
  });
}
