// Helpers for the agent-protocol integration tests (docs/agent-protocol.md): enrollment over
// HTTP, raw Socket.IO agent connections, and condition waits on the server's database (its
// file, or its PostgreSQL database). The server under test is the real production one; its
// database is only read here, except for the few direct UPDATEs a test makes to move time or
// approve a device.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { io, type Socket } from "socket.io-client";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import type { TaskMessage } from "../../lib/agents/envelope";
import { rawRow, rawRun } from "./raw";
import { randomCode } from "../../lib/crypto";
import { apiClient, seedWithTokens, type Issued, type SeededTokens } from "./api";
import { signIn, startTestServer, type TestServer } from "./server";

export type Creds = { device_id: string; device_token: string };
export type Enrolled = { device_id: string; device_token: string; status: "PENDING" | "ENABLED" };

export type TaskRow = {
  id: number;
  code: string;
  device_id: string;
  type: string;
  status: string;
  message: string | null;
  updated_at: number;
  scheduled_at: number | null;
  expires_at: number;
  started_at: number | null;
  finished_at: number | null;
  lease_expires_at: number | null;
};
export type DeviceRow = {
  id: string;
  organization_id: string;
  name: string;
  status: string;
  agent_version: string | null;
  token_hash: string | null;
  last_heartbeat_at: number | null;
  online: number;
  node_id: string | null;
  last_seq: number;
  deleted_at: number | null;
};

// ---------------------------------------------------------------------------------------
// The database file

export const taskRow = (dbFile: string, code: string) => rawRow<TaskRow>(dbFile, "select * from tasks where code = ?", code);

export const deviceRow = (dbFile: string, id: string) => rawRow<DeviceRow>(dbFile, "select * from devices where id = ?", id);

export const deviceCount = async (dbFile: string) => (await rawRow<{ n: number }>(dbFile, "select count(*) as n from devices"))!.n;

export async function registrationToken(dbFile: string, slug: string): Promise<string> {
  const row = await rawRow<{ t: string }>(dbFile, "select s.registration_token as t from org_settings s join organization o on o.id = s.organization_id where o.slug = ?", slug);
  if (!row) throw new Error(`no organization ${slug}`);
  return row.t;
}

/**
 * Polls `probe` until it returns something other than undefined/false, at a short interval,
 * for at most `timeoutMs`: a condition wait, not a sleep. The last value is in the failure.
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    last = v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits for a task row to reach `status` and returns the row. */
export async function waitForStatus(dbFile: string, code: string, status: string, timeoutMs = 5_000): Promise<TaskRow> {
  let seen: string | undefined;
  try {
    return await waitFor(`task ${code} to be ${status}`, async () => {
      const row = await taskRow(dbFile, code);
      seen = row?.status;
      return row?.status === status ? row : undefined;
    }, timeoutMs);
  } catch {
    throw new Error(`task ${code} is ${seen}, expected ${status} within ${timeoutMs} ms`);
  }
}

/**
 * Asserts a task keeps `status` for the whole of `ms`: a property over time (e.g. "no ack
 * within the server's ack timeout changes nothing"), polled throughout, failing at once.
 */
export async function expectStatusHeld(dbFile: string, code: string, status: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    expect((await taskRow(dbFile, code))?.status, `task ${code} left ${status}`).toBe(status);
    await new Promise((r) => setTimeout(r, 100));
  }
  expect((await taskRow(dbFile, code))?.status).toBe(status);
}

// ---------------------------------------------------------------------------------------
// Agents over Socket.IO

export type Delivery = { msg: TaskMessage; receivedAt: number; ack: (answer: unknown) => void };

const open = new Set<TestAgent>();

/**
 * A raw agent connection: what a device's agent would open, with no protocol logic of its
 * own. Task deliveries are queued until the test takes them, and answered only when told.
 */
export class TestAgent {
  private queue: Delivery[] = [];
  private waiting: ((d: Delivery) => void)[] = [];
  private closedWith: string | undefined;
  private onClose: ((reason: string) => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on("task", (msg: TaskMessage, ack: (a: unknown) => void) => {
      const d: Delivery = { msg, receivedAt: Date.now(), ack };
      const w = this.waiting.shift();
      if (w) w(d);
      else this.queue.push(d);
    });
    socket.on("disconnect", (reason) => {
      this.closedWith = reason;
      for (const f of this.onClose.splice(0)) f(reason);
    });
  }

  /** Connects; resolves once connected, rejects with the server's refusal (connect_error). */
  static connect(url: string, auth: unknown): Promise<TestAgent> {
    const socket = io(`${url}/agent`, { auth: auth as Record<string, unknown>, transports: ["websocket"], reconnection: false, forceNew: true, timeout: 5_000 });
    const agent = new TestAgent(socket);
    open.add(agent);
    return new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(agent));
      socket.once("connect_error", (err) => {
        agent.close();
        reject(err);
      });
    });
  }

  /** The next task delivered to this connection (already queued, or the next to come). */
  nextTask(timeoutMs = 5_000): Promise<Delivery> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== take);
        reject(new Error(`no task delivered within ${timeoutMs} ms`));
      }, timeoutMs);
      const take = (d: Delivery) => {
        clearTimeout(timer);
        resolve(d);
      };
      this.waiting.push(take);
    });
  }

  /** Deliveries received and not yet taken. */
  get queued(): number {
    return this.queue.length;
  }

  /** Sends an event and resolves with the server's acknowledgement. */
  send<T = unknown>(event: string, payload: unknown, timeoutMs = 5_000): Promise<T> {
    return this.socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<T>;
  }

  /** Resolves with the disconnect reason once this connection is closed (by either side). */
  disconnected(timeoutMs = 5_000): Promise<string> {
    if (this.closedWith) return Promise.resolve(this.closedWith);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`still connected after ${timeoutMs} ms`)), timeoutMs);
      this.onClose.push((reason) => {
        clearTimeout(timer);
        resolve(reason);
      });
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  close(): void {
    open.delete(this);
    this.socket.close();
  }
}

/** The `connect_error` message a handshake with these credentials is refused with. */
export async function refusal(url: string, auth: unknown): Promise<string> {
  try {
    const agent = await TestAgent.connect(url, auth);
    agent.close();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("the connection was accepted");
}

/** Closes every agent connection a test opened and left open. */
export function closeAgentsAfterEach(): void {
  afterEach(() => {
    for (const a of [...open]) a.close();
  });
}

// ---------------------------------------------------------------------------------------
// A server for agent tests

/** The id of a console server action in the production build the server runs. */
export function serverActionId(exportedName: string, file: string): string {
  const dist = process.env.NEXT_DIST_DIR || ".next";
  const manifest = JSON.parse(readFileSync(join(dist, "server", "server-reference-manifest.json"), "utf8")) as {
    node: Record<string, { exportedName?: string; filename?: string }>;
  };
  const hit = Object.entries(manifest.node).find(([, v]) => v.exportedName === exportedName && v.filename === file);
  if (!hit) throw new Error(`no server action ${exportedName} in ${file}`);
  return hit[0];
}

export const uniqueName = (prefix = "agt") => `${prefix}-${randomCode(8).toLowerCase()}`;

/**
 * One real server per suite, seeded with the demo and API tokens, acme auto-approving (globex
 * does not). Helpers enroll devices over HTTP and issue tasks through the API.
 */
export function agentServerFixture(opts: { env?: Record<string, string>; signInAdmin?: boolean } = {}) {
  const tokens: Partial<SeededTokens> = {};
  let server: TestServer | undefined;
  const api = apiClient(() => server!.url);
  const admin = { cookie: "" };
  const seed = seedWithTokens(tokens);

  beforeAll(async () => {
    server = await startTestServer({
      seed: async (db) => {
        await seed(db);
        await rawRun(db, "update org_settings set auto_approve = true where organization_id = (select id from organization where slug = 'acme')");
      },
      env: opts.env,
    });
    if (opts.signInAdmin) admin.cookie = await signIn(server.url, "admin@taskwire.local");
  });
  afterAll(async () => {
    await server?.stop();
  });

  const ctx = {
    get server(): TestServer {
      return server!;
    },
    get url(): string {
      return server!.url;
    },
    get dbFile(): string {
      return server!.dbFile;
    },
    api,
    admin,
    tokens,

    enroll: (body: unknown) => api.post<Enrolled>("/agent/enroll", { json: body }),

    /** An ENABLED device of acme (auto-approved), enrolled over HTTP: its name and credentials. */
    async device(name = uniqueName(), version = "1.9.1"): Promise<{ name: string; creds: Creds }> {
      const r = await api.post<Enrolled>("/agent/enroll", { json: { registration_token: await registrationToken(server!.dbFile, "acme"), name, version } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body.status).toBe("ENABLED");
      return { name, creds: { device_id: r.body.device_id, device_token: r.body.device_token } };
    },

    /** Connects as an agent of the given device, and waits until the server has it online. */
    async connect(creds: Creds, version = "1.9.1", auth: Record<string, unknown> = {}): Promise<TestAgent> {
      const agent = await TestAgent.connect(server!.url, { ...creds, version, ...auth });
      // The server writes its CONNECT packet before its connection handler marks the device
      // online: another process can see the first without the second for a moment.
      await waitFor("the device to be online", async () => (await deviceRow(server!.dbFile, creds.device_id))?.online === 1);
      return agent;
    },

    /** Issues one task to one named device of acme and returns it as the API answered. */
    async issue(device: string, type: string, extra: Record<string, unknown> = {}): Promise<Issued["tasks"][number]> {
      const r = await api.post<Issued>("/tasks", { as: { token: tokens.acmeWrite! }, json: { type, targets: { devices: [device] }, ...extra } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body.tasks).toHaveLength(1);
      return r.body.tasks[0];
    },
  };
  return ctx;
}

export type AgentCtx = ReturnType<typeof agentServerFixture>;

/** Takes the next delivery, checks it is `code`, accepts it and waits for IN_PROGRESS. */
export async function acceptNext(ctx: AgentCtx, agent: TestAgent, code: string): Promise<Delivery> {
  const d = await agent.nextTask();
  expect(d.msg.code).toBe(code);
  d.ack({ accepted: true });
  await waitForStatus(ctx.dbFile, code, "IN_PROGRESS");
  return d;
}
