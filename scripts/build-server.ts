import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { buildSync } from "esbuild";

/** The production server, compiled: what `npm start` runs. */
export const SERVER_BUNDLE = "dist/server.mjs";

/**
 * Compiles a TypeScript entry and the project's own modules it imports into one ES module;
 * packages stay imports, resolved from node_modules when it runs. A production process then
 * starts on plain `node`: no TypeScript loader in it, its thread and its compiled sources
 * (docs/performance.md, "The server compiled"). The file is replaced whole (written beside,
 * then renamed), and only when its text changed, so a process starting meanwhile reads the
 * old file or the new one.
 */
export function bundle(entry: string, outfile: string): void {
  const [out] = buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    write: false,
    logLevel: "warning",
  }).outputFiles;
  if (existsSync(outfile) && readFileSync(outfile, "utf8") === out.text) return;
  mkdirSync(dirname(outfile), { recursive: true });
  const partial = `${outfile}.${process.pid}.partial`;
  writeFileSync(partial, out.contents);
  renameSync(partial, outfile);
}

export function buildServer(): void {
  bundle("server.ts", SERVER_BUNDLE);
}

if (process.argv[1]?.endsWith("build-server.ts")) buildServer();
