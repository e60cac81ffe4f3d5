import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { buildServer } from "./build-server";

const SOURCES = ["app", "lib", "db", "rules", "next.config.mjs", "instrumentation-client.ts", "package.json", "postcss.config.mjs"];

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/**
 * The production build: `next build` when there is none, or a source is newer than it; then
 * the server compiled (scripts/build-server.ts), which is quick and rewrites its file only
 * when the code changed.
 */
export function ensureBuild(distDir = process.env.NEXT_DIST_DIR || ".next"): void {
  ensureNextBuild(distDir);
  buildServer();
}

function ensureNextBuild(distDir: string): void {
  const buildId = join(distDir, "BUILD_ID");
  if (existsSync(buildId)) {
    const built = statSync(buildId).mtimeMs;
    if (SOURCES.every((s) => !existsSync(s) || newestMtime(s) <= built)) return;
  }
  console.log("Building the console (next build)…");
  const res = spawnSync("npx", ["next", "build"], { stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
  if (res.status !== 0) {
    console.error("next build failed");
    process.exit(1);
  }
}

if (process.argv[1]?.endsWith("ensure-build.ts")) ensureBuild();
