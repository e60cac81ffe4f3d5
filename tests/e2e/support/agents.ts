// Raw agents for the browser tests: a device enrolled over the API (docs/agent-protocol.md),
// approved straight in the server's database file, and connected to "/agent" from the test
// process with socket.io-client. Tasks it is sent wait until the test answers them, so a
// test decides when each row moves.
import { randomBytes } from "node:crypto";
import { basename, join } from "node:path";
import type { APIRequestContext } from "@playwright/test";
import { io, type Socket } from "socket.io-client";
import { rawRun } from "../../support/raw";

/**
 * The e2e server's database (playwright.config.ts sets E2E_DATA_DIR for it and us): a file in
 * that folder, or, when the suites run on PostgreSQL (scripts/with-pg.ts), a database named
 * after it on the throwaway cluster.
 */
export function serverDbUrl(): string {
  const dir = process.env.E2E_DATA_DIR;
  if (!dir) throw new Error("E2E_DATA_DIR is not set: run the specs through playwright.config.ts");
  const pg = process.env.TASKWIRE_TEST_PG_URL;
  if (!pg) return join(dir, "taskwire.db");
  const url = new URL(pg);
  url.pathname = `/${basename(dir).replace(/\W/g, "_")}`;
  return url.toString();
}

type Delivery = { code: string; type: string; ack: (answer: unknown) => void };

export class E2EAgent {
  private queue: Delivery[] = [];
  private waiting: ((d: Delivery) => void)[] = [];

  constructor(
    readonly name: string,
    readonly socket: Socket,
  ) {
    socket.on("task", (msg: { code: string; type: string }, ack: (a: unknown) => void) => {
      const d = { code: msg.code, type: msg.type, ack };
      const w = this.waiting.shift();
      if (w) w(d);
      else this.queue.push(d);
    });
  }

  /** Deliveries received and not yet taken. */
  get queued(): number {
    return this.queue.length;
  }

  /** The next task sent to this device (already queued, or the next to come). */
  nextTask(timeoutMs = 10_000): Promise<Delivery> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== take);
        reject(new Error(`${this.name}: no task delivered within ${timeoutMs} ms`));
      }, timeoutMs);
      const take = (d: Delivery) => {
        clearTimeout(timer);
        resolve(d);
      };
      this.waiting.push(take);
    });
  }

  /** Takes the next delivery, which must be `code`, and accepts it (PENDING → IN_PROGRESS). */
  async accept(code: string): Promise<void> {
    const d = await this.nextTask();
    if (d.code !== code) throw new Error(`${this.name}: expected task ${code}, was sent ${d.code}`);
    d.ack({ accepted: true });
  }

  /** Reports a result and checks the server recorded it. */
  async result(code: string, status: "COMPLETED" | "FAILED", message = `${status} by ${this.name}`): Promise<void> {
    const ack = (await this.socket.timeout(5_000).emitWithAck("result", { code, status, message })) as { ok: boolean; error?: string };
    if (!ack?.ok) throw new Error(`${this.name}: result for ${code} refused: ${JSON.stringify(ack)}`);
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * Enrolls a new device of the signed-in admin's organization (its registration token read
 * through the API), approves it in the database and connects its agent. Named like the demo
 * fleet ("fw-…"), so specs that check Acme Corp's device names still hold.
 */
export async function enrollAgent(request: APIRequestContext, baseURL: string, prefix = "fw-live"): Promise<E2EAgent> {
  const org = await request.get("/api/v1/organization");
  if (!org.ok()) throw new Error(`GET /api/v1/organization: ${org.status()} ${await org.text()}`);
  const { registration_token } = (await org.json()) as { registration_token: string | null };
  if (!registration_token) throw new Error("no registration token: the session is not an ADMIN's");
  const name = `${prefix}-${randomBytes(4).toString("hex")}`;
  const res = await request.post("/api/v1/agent/enroll", { data: { registration_token, name, version: "1.9.1" }, headers: { origin: baseURL } });
  if (res.status() !== 201) throw new Error(`enroll ${name}: ${res.status()} ${await res.text()}`);
  const creds = (await res.json()) as { device_id: string; device_token: string; status: string };
  if (creds.status !== "ENABLED" && (await rawRun(serverDbUrl(), "update devices set status = 'ENABLED' where id = ?", creds.device_id)) !== 1) {
    throw new Error(`could not approve ${name}`);
  }
  const socket = io(`${baseURL}/agent`, { auth: { device_id: creds.device_id, device_token: creds.device_token, version: "1.9.1" }, transports: ["websocket"], forceNew: true, reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", (e) => reject(new Error(`agent ${name} refused: ${e.message}`)));
  });
  return new E2EAgent(name, socket);
}

export type Issued = { fanout: string; total: number; tasks: { code: string; device: string; status: string }[] };

/** Issues a task through the JSON API with the page's session (a browser write: same Origin). */
export async function issueTask(request: APIRequestContext, baseURL: string, devices: string[], type = "PING"): Promise<Issued> {
  const payload = type === "PING" ? { host: "1.1.1.1", count: 1 } : undefined;
  const res = await request.post("/api/v1/tasks", { data: { type, payload, targets: { devices } }, headers: { origin: baseURL } });
  if (res.status() !== 201) throw new Error(`POST /api/v1/tasks: ${res.status()} ${await res.text()}`);
  return (await res.json()) as Issued;
}
