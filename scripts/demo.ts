import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { isSeeded, seedDemo, DEMO_PASSWORD, DEMO_USERS, type DemoAgent } from "../db/seed";
import { saveState } from "../lib/agents/sim/state";
import { readEnv } from "../lib/env";
import { dataDir } from "../lib/server/secret";
import { startServer } from "../server";
import { ensureBuild } from "./ensure-build";

// No flags: anything given is a mistake worth saying out loud.
const flags = z.array(z.string()).max(0, "npm run demo takes no arguments (set PORT, HOST or DATABASE_URL instead)").safeParse(process.argv.slice(2));
if (!flags.success) {
  console.error(flags.error.issues[0].message);
  process.exit(2);
}

ensureBuild();
let seeded: Record<string, DemoAgent[]> | null = null;
const server = await startServer(
  {},
  {
    beforeListen: async (db) => {
      if (isSeeded(db)) {
        console.log("Demo data already present; starting on the existing database (delete the data folder to start over).");
        return;
      }
      console.log("Seeding the demo organizations, fleets and task history…");
      seeded = (await seedDemo(db)).agents;
    },
  },
);

// Each demo organization's fleet runs in its own process, as real agents would: their
// device tokens exist only in the state files written here when the demo was seeded.
const dir = dataDir(readEnv().DATABASE_URL);
const fleets: ChildProcess[] = [];
for (const slug of ["acme", "globex"]) {
  const statePath = join(dir, `agents-${slug}.json`);
  const agents: DemoAgent[] | undefined =
    (seeded as Record<string, DemoAgent[]> | null)?.[slug] ??
    (existsSync(statePath) ? (JSON.parse(readFileSync(statePath, "utf8")) as { agents: DemoAgent[] }).agents : undefined);
  if (!agents?.length) continue;
  // The fleet checks that its state belongs to this server: follow PORT/HOST changes.
  saveState(statePath, { url: server.url, agents });
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "scripts/agents.ts", "--url", server.url, "--count", String(agents.length), "--state", statePath, "--from-state", "--offline-rate", "0.02", "--fail-rate", "0.05"],
    { stdio: ["ignore", "pipe", "pipe"], env: process.env },
  );
  const prefix = (chunk: Buffer) => chunk.toString().trimEnd().split("\n").map((l) => `[agents ${slug}] ${l}`).join("\n");
  child.stdout!.on("data", (c: Buffer) => console.log(prefix(c)));
  child.stderr!.on("data", (c: Buffer) => console.error(prefix(c)));
  fleets.push(child);
}

console.log(`
Taskwire demo is running at ${server.url}

  Sign in as ${DEMO_USERS.admin} (ADMIN of acme and globex)
          or ${DEMO_USERS.viewer} (READ_ONLY in acme)
  Password: ${DEMO_PASSWORD}

  A simulated agent runs on every enabled device (a few stay offline on purpose):
  open Devices and press "Sync all" to watch a fan-out finish live on the Tasks page.

Stop with Ctrl+C.`);

let stopping = false;
const stop = () => {
  // The signal can arrive twice (npm and the process group): stop once, completely.
  if (stopping) return;
  stopping = true;
  for (const f of fleets) f.kill("SIGTERM");
  void server.close().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
