import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";
import { closeDatabase, openDatabase } from "../db/client";
import { dialectOf } from "../db/dialect";
import { isSeeded, DEMO_PASSWORD, DEMO_USERS, type DemoAgent } from "../lib/demo/seed";
import { readState, saveState, StateFileError } from "../lib/agents/sim/state";
import { hasAnyUser } from "../lib/auth/users";
import { readEnv } from "../lib/env";
import { fsyncDir } from "../lib/server/files";
import { dataDir, ensureSecret } from "../lib/server/secret";
import { startServer } from "../server";
import { ensureBuild } from "./ensure-build";
import { seedDemoAt } from "./lib/seed-demo";

// No flags: anything given is a mistake worth saying out loud.
const flags = z.array(z.string()).max(0, "npm run demo takes no arguments (set PORT, HOST or DATABASE_URL instead)").safeParse(process.argv.slice(2));
if (!flags.success) {
  console.error(flags.error.issues[0].message);
  process.exit(2);
}

const DEMO_FLEETS = ["acme", "globex"] as const;

const env = readEnv();
// The demo's database is a file seeded beside its name and renamed into place (all or
// nothing, below): PostgreSQL has its own demo, on a throwaway server of its own.
if (dialectOf(env.DATABASE_URL) === "pg") {
  console.error("npm run demo runs on a SQLite file (DATABASE_URL a path, or unset). For PostgreSQL, npm run demo:cluster starts a throwaway one with three nodes behind nginx (docs/deploy.md).");
  process.exit(2);
}
ensureBuild();
const dir = dataDir(env.DATABASE_URL);
const statePath = (slug: string) => join(dir, `agents-${slug}.json`);
const seeded = await prepareDemoDatabase();
// Each demo organization's fleet runs in its own process, as real agents would: their
// device tokens exist only in the state files written when the demo was seeded. Read before
// the server starts, so that a damaged one stops the demo with one line.
const demoFleets = DEMO_FLEETS.map((slug) => {
  const path = statePath(slug);
  try {
    return { slug, path, agents: seeded?.[slug] ?? readState(path)?.agents };
  } catch (e) {
    if (!(e instanceof StateFileError)) throw e;
    console.error(`The agents' state file ${path} is damaged: delete the data folder to seed the demo afresh.`);
    process.exit(1);
  }
});
const server = await startServer();

const fleets: ChildProcess[] = [];
const missing: string[] = [];
for (const { slug, path, agents } of demoFleets) {
  if (!agents?.length) {
    missing.push(path);
    continue;
  }
  // The fleet checks that its state belongs to this server: follow PORT/HOST changes.
  saveState(path, { url: server.url, agents });
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "scripts/agents.ts", "--url", server.url, "--count", String(agents.length), "--state", path, "--from-state", "--offline-rate", "0.02", "--fail-rate", "0.05"],
    { stdio: ["ignore", "pipe", "pipe"], env: process.env },
  );
  const prefix = (chunk: Buffer) => chunk.toString().trimEnd().split("\n").map((l) => `[agents ${slug}] ${l}`).join("\n");
  child.stdout!.on("data", (c: Buffer) => console.log(prefix(c)));
  child.stderr!.on("data", (c: Buffer) => console.error(prefix(c)));
  fleets.push(child);
}

const agentsLine = missing.length
  ? `  No simulated agents for ${missing.join(" and ")}: the file is missing, so their devices stay
  offline. Delete the data folder to seed the demo afresh.`
  : `  A simulated agent runs on every enabled device (a few stay offline on purpose):
  open Devices and press "Sync all" to watch a fan-out finish live on the Tasks page.`;

console.log(`
Taskwire demo is running at ${server.url}

  Sign in as ${DEMO_USERS.admin} (ADMIN of acme and globex)
          or ${DEMO_USERS.viewer} (READ_ONLY in acme)
  Password: ${DEMO_PASSWORD}

${agentsLine}

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

/**
 * The demo database is all or nothing: it is seeded into a file beside the target, the
 * agents' state files are written, and only then is the file renamed into place. A run
 * killed part way leaves no database under the real name, so the next run seeds afresh
 * instead of starting on half the data (an admin without organizations, agents without
 * tokens). Returns the fleets' credentials when it seeded, null when the demo was there.
 */
async function prepareDemoDatabase(): Promise<Record<string, DemoAgent[]> | null> {
  const target = env.DATABASE_URL;
  if (existsSync(target)) {
    const db = await openDatabase(target);
    let state: "demo" | "other" | "empty";
    try {
      state = (await isSeeded({ db })) ? "demo" : (await hasAnyUser({ db })) ? "other" : "empty";
    } finally {
      await closeDatabase(db);
    }
    if (state === "demo") {
      console.log("Demo data already present; starting on the existing database (delete the data folder to start over).");
      return null;
    }
    if (state === "other") {
      console.error(`${target} holds another Taskwire installation, not the demo: set DATABASE_URL to a new file for the demo.`);
      process.exit(1);
    }
  }
  console.log("Seeding the demo organizations, fleets and task history…");
  // Created by the same auth secret the server will run with.
  process.env.BETTER_AUTH_SECRET = ensureSecret(target, env.BETTER_AUTH_SECRET);
  const partial = `${target}.seeding`;
  const sidecars = (f: string) => [f, `${f}-wal`, `${f}-shm`, `${f}-journal`];
  for (const f of sidecars(partial)) rmSync(f, { force: true });
  // Closing the last connection folds the log into the file: one file to rename.
  const agents = await seedDemoAt(partial);
  for (const slug of DEMO_FLEETS) saveState(statePath(slug), { url: "", agents: agents[slug] ?? [] });
  // An empty database in the way (a first `npm start` without /setup) has nothing to lose.
  for (const f of sidecars(target).slice(1)) rmSync(f, { force: true });
  renameSync(partial, target);
  fsyncDir(dirname(resolve(target)));
  return agents;
}
