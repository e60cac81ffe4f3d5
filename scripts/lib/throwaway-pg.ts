import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

// A PostgreSQL of its own in a temporary folder, from what Debian's `postgresql` package
// installs: for the tests on PostgreSQL and `npm run demo:cluster`. Trust authentication on
// 127.0.0.1 only, a free port, and thrown away when stopped.

export type ThrowawayPg = { url: (database?: string) => string; port: number; dir: string; stop: () => void };

/** PostgreSQL's programs (initdb, pg_ctl, pg_dump): Debian's versioned folder (the newest), else the folder of `pg_ctl` on PATH. */
export function pgBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "pg_ctl"))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length) return join(root, versions[0], "bin");
  const onPath = spawnSync("sh", ["-c", "command -v pg_ctl"], { encoding: "utf8" }).stdout.trim();
  return onPath ? join(onPath, "..") : undefined;
}

export const INSTALL_HINT = "PostgreSQL 15 or later is needed: on Debian, `apt-get install -y postgresql` (only its programs are used; its own service may stay stopped).";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * initdb refuses to run as root: as root, the cluster belongs to the unprivileged `postgres`
 * user the package creates (or `nobody`); otherwise to whoever runs this.
 */
function asOwner(): { run: (cmd: string, args: string[]) => void; owner?: string } {
  if (process.getuid?.() !== 0) return { run: (cmd, args) => void execFileSync(cmd, args, { stdio: "pipe" }) };
  const owner = spawnSync("id", ["-u", "postgres"]).status === 0 ? "postgres" : "nobody";
  return { owner, run: (cmd, args) => void execFileSync("runuser", ["-u", owner, "--", cmd, ...args], { stdio: "pipe" }) };
}

export async function startThrowawayPg(opts: { fsync?: boolean; maxConnections?: number } = {}): Promise<ThrowawayPg> {
  const bin = pgBinDir();
  if (!bin) throw new Error(INSTALL_HINT);
  const dir = mkdtempSync(join(tmpdir(), "taskwire-pg-"));
  const data = join(dir, "data");
  const { run, owner } = asOwner();
  if (owner) {
    execFileSync("chown", [owner, dir]);
    chmodSync(dir, 0o700);
  }
  const port = await freePort();
  try {
    run(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C"]);
    const settings = [
      `-p ${port}`,
      `-k ${dir}`,
      "-c listen_addresses=127.0.0.1",
      `-c max_connections=${opts.maxConnections ?? 200}`,
      ...(opts.fsync ? [] : ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]),
    ];
    run(join(bin, "pg_ctl"), ["-D", data, "-l", join(dir, "log"), "-o", settings.join(" "), "-w", "-t", "120", "start"]);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const out = (e as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`Could not start a throwaway PostgreSQL: ${(e as Error).message}\n${out}`);
  }
  let stopped = false;
  return {
    port,
    dir,
    url: (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`,
    stop: () => {
      if (stopped) return;
      stopped = true;
      try {
        run(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        // Already gone: nothing to stop.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
