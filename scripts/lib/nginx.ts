import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// nginx in front of several nodes, as Debian's `nginx` package installs it, run as the user
// who starts it in a folder of its own: for `npm run demo:cluster` and the multi-node tests.
// The `server` block is the one docs/deploy.md shows.

export const NGINX_HINT = "nginx is needed: on Debian, `apt-get install -y nginx` (only its program is used; its own service may stay stopped).";

/** nginx's program: on PATH, or where Debian puts it. */
export function nginxBin(): string | undefined {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin"]) {
    if (dir && existsSync(join(dir, "nginx"))) return join(dir, "nginx");
  }
  return undefined;
}

/**
 * The configuration: round robin over `upstreams` (no sticky sessions: agents and browsers
 * speak websocket only), websocket upgrades passed through, the client's Host and address
 * forwarded, connections held as long as agents keep them.
 */
export function nginxConfig(opts: { dir: string; listen: number; upstreams: number[] }): string {
  const d = opts.dir;
  return `worker_processes 1;
daemon off;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${d}/body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;

  map $http_upgrade $connection_upgrade { default upgrade; '' close; }

  upstream taskwire {
${opts.upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join("\n")}
  }

  server {
    listen 127.0.0.1:${opts.listen};
    client_max_body_size 2m;
    location / {
      proxy_pass http://taskwire;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
}
`;
}

export type RunningNginx = { url: string; stop: () => Promise<void> };

/** Writes the configuration into `dir` and starts nginx in the foreground of a child process; resolves once it answers. */
export async function startNginx(opts: { dir: string; listen: number; upstreams: number[] }): Promise<RunningNginx> {
  const bin = nginxBin();
  if (!bin) throw new Error(NGINX_HINT);
  mkdirSync(opts.dir, { recursive: true });
  const conf = join(opts.dir, "nginx.conf");
  writeFileSync(conf, nginxConfig(opts));
  const child: ChildProcess = spawn(bin, ["-p", opts.dir, "-c", conf, "-e", join(opts.dir, "error.log")], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (c: Buffer) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${opts.listen}`;
  for (let i = 0; ; i++) {
    const code = await Promise.race([exited, new Promise<"running">((r) => setTimeout(() => r("running"), 100))]);
    if (code !== "running") throw new Error(`nginx exited ${code}: ${err.trim()}`);
    const up = await fetch(`${url}/healthz`).then(
      (r) => r.status > 0,
      () => false,
    );
    if (up) break;
    if (i > 600) throw new Error(`nginx did not answer on ${url}: ${err.trim()}`);
  }
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGQUIT");
      const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(force);
    },
  };
}
