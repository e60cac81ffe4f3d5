// Helpers for the live-channel integration tests (lib/live): browser-like Socket.IO clients
// of "/live" that record every patch, agents that work through what they are sent, and a
// seed with a user of each organization and agent credentials for the demo fleet.
import { randomUUID } from "node:crypto";
import { io, type Socket } from "socket.io-client";
import { afterEach } from "vitest";
import type { Db } from "../../db/client";
import { member } from "../../db/schema";
import { withTransaction } from "../../db/transaction";
import type { DemoAgent } from "../../lib/demo/seed";
import { seedTestDemo } from "./server";
import { createUser } from "../../lib/auth/users";
import { randomCode, sha256 } from "../../lib/crypto";
import { createDevice } from "../../lib/devices/devices";
import { LIVE_NAMESPACE, type LivePatch, type LiveTaskRow, type WatchAck } from "../../lib/live/protocol";
import { createApiToken, createOrganization } from "../../lib/orgs/orgs";
import { waitFor } from "./agents";

/** A condition wait, not a sleep: the one in tests/support/agents.ts. */
export const until = waitFor;

// ---------------------------------------------------------------------------------------
// Browser-like clients

export type Received = { receivedAt: number; patch: LivePatch; bytes: number };

const openSockets = new Set<Socket>();

/** Closes every live client and agent a test left open, so no test sees another's sockets. */
export function closeSocketsAfterEach(): void {
  afterEach(() => {
    for (const s of [...openSockets]) s.close();
    openSockets.clear();
  });
}

function track(socket: Socket): Socket {
  openSockets.add(socket);
  socket.io.on("close", () => {
    if (!socket.active) openSockets.delete(socket);
  });
  return socket;
}

/** What a browser tab's live connection would be: the session cookie and the page's Origin. */
export class LiveClient {
  readonly received: Received[] = [];

  private constructor(readonly socket: Socket) {
    socket.on("patch", (patch: LivePatch) => this.received.push({ receivedAt: Date.now(), patch, bytes: JSON.stringify(patch).length }));
  }

  /**
   * Connects to "/live" with these handshake headers; resolves once connected, rejects with
   * the server's refusal. `reconnection` stays off unless asked for, as in a test each
   * reconnection should be one the test made.
   */
  static connect(url: string, headers: Record<string, string>, opts: { reconnection?: boolean } = {}): Promise<LiveClient> {
    const socket = track(
      io(`${url}${LIVE_NAMESPACE}`, {
        transports: ["websocket"],
        extraHeaders: headers,
        forceNew: true,
        reconnection: opts.reconnection ?? false,
        reconnectionDelay: 100,
        reconnectionDelayMax: 500,
        timeout: 5_000,
      }),
    );
    const client = new LiveClient(socket);
    return new Promise((resolve, reject) => {
      const refused = (err: Error) => {
        socket.off("connect", connected);
        socket.close();
        reject(err);
      };
      const connected = () => {
        // Later connection errors belong to reconnection, not to this first handshake.
        socket.off("connect_error", refused);
        resolve(client);
      };
      socket.once("connect", connected);
      socket.once("connect_error", refused);
    });
  }

  /** Connects with a session cookie from the console's own origin. */
  static as(url: string, cookie: string, opts: { reconnection?: boolean } = {}): Promise<LiveClient> {
    return LiveClient.connect(url, { cookie, origin: url }, opts);
  }

  /** Sends `watch` and resolves with the server's acknowledgement. */
  watch(request: unknown, timeoutMs = 5_000): Promise<WatchAck> {
    return this.socket.timeout(timeoutMs).emitWithAck("watch", request) as Promise<WatchAck>;
  }

  /** Every task row received so far, in order of arrival. */
  rows(from = 0): LiveTaskRow[] {
    return this.received.slice(from).flatMap((r) => r.patch.tasks);
  }

  /** The newest state of each task received, as the list folds them (a later updatedAt wins). */
  latest(): Map<string, LiveTaskRow> {
    const out = new Map<string, LiveTaskRow>();
    for (const row of this.rows()) {
      const known = out.get(row.code);
      if (!known || row.updatedAt >= known.updatedAt) out.set(row.code, row);
    }
    return out;
  }

  /** Waits until a received patch (from index `from` on) satisfies `predicate`, and returns it. */
  waitForPatch(what: string, predicate: (p: LivePatch) => boolean, opts: { from?: number; timeoutMs?: number } = {}): Promise<LivePatch> {
    return until(what, () => this.received.slice(opts.from ?? 0).find((r) => predicate(r.patch))?.patch, opts.timeoutMs ?? 5_000);
  }

  /** Waits until task `code` has been received with `status` (from patch index `from` on). */
  waitForTask(code: string, status: string, opts: { from?: number; timeoutMs?: number } = {}): Promise<LivePatch> {
    return this.waitForPatch(`task ${code} to arrive ${status}`, (p) => p.tasks.some((t) => t.code === code && t.status === status), opts);
  }

  close(): void {
    openSockets.delete(this.socket);
    this.socket.close();
  }
}

/** The `connect_error` message a "/live" handshake with these headers is refused with. */
export async function liveRefusal(url: string, headers: Record<string, string>): Promise<string> {
  try {
    const client = await LiveClient.connect(url, headers);
    client.close();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("the connection was accepted");
}

// ---------------------------------------------------------------------------------------
// Agents that do their work

export type AgentCreds = { device_id: string; device_token: string };
export type AgentBehaviour = {
  result?: "COMPLETED" | "FAILED" | null;
  /** How long the i-th agent works on a task before reporting (a real device takes a while). */
  workMs?: (i: number) => number;
};

/**
 * Raw "/agent" connections for many devices at once (docs/agent-protocol.md): each accepts
 * every task it is sent and, unless `result` is null, reports it finished right after.
 */
export class AgentFleet {
  private constructor(
    readonly sockets: Socket[],
    readonly results: { code: string; ack: unknown }[],
  ) {}

  static async connect(url: string, creds: AgentCreds[], behaviour: AgentBehaviour = {}, batch = 100): Promise<AgentFleet> {
    const sockets: Socket[] = [];
    const results: { code: string; ack: unknown }[] = [];
    const status = behaviour.result === undefined ? "COMPLETED" : behaviour.result;
    const one = (c: AgentCreds, i: number) =>
      new Promise<Socket>((resolve, reject) => {
        const socket = track(io(`${url}/agent`, { auth: { ...c, version: "1.9.1" }, transports: ["websocket"], forceNew: true, reconnection: false, timeout: 10_000 }));
        socket.on("task", (msg: { code: string }, ack: (a: unknown) => void) => {
          ack({ accepted: true });
          if (!status) return;
          const report = () =>
            void socket
              .timeout(10_000)
              .emitWithAck("result", { code: msg.code, status, message: `${status} by the test agent` })
              .then((answer: unknown) => results.push({ code: msg.code, ack: answer }), (e: Error) => results.push({ code: msg.code, ack: e.message }));
          const work = behaviour.workMs?.(i) ?? 0;
          if (work > 0) setTimeout(report, work);
          else report();
        });
        socket.once("connect", () => resolve(socket));
        socket.once("connect_error", (e) => reject(new Error(`agent ${c.device_id} refused: ${e.message}`)));
      });
    for (let i = 0; i < creds.length; i += batch) sockets.push(...(await Promise.all(creds.slice(i, i + batch).map((c, j) => one(c, i + j)))));
    return new AgentFleet(sockets, results);
  }

  close(): void {
    for (const s of this.sockets) {
      openSockets.delete(s);
      s.close();
    }
  }
}

// ---------------------------------------------------------------------------------------
// The seed

export const GLOBEX_USER = "gina@globex.test";
export const BULK_USER = "bob@bulk.test";

export type LiveSeed = {
  orgs: Record<string, string>;
  /** API tokens (READ_WRITE) of the admin in acme and globex, and of the bulk org's owner. */
  tokens: { acme: string; globex: string; bulk: string };
  /** Agent credentials of the demo fleet, by organization slug (and of "bulk" if asked for). */
  agents: Record<string, DemoAgent[]>;
};

/**
 * The demo seed, plus: a user who belongs to Globex only (the admin's session starts in
 * Acme Corp, so each organization has a watcher), READ_WRITE API tokens, and optionally an
 * organization "bulk" of `bulkDevices` enabled devices with agent credentials, whose only
 * member is BULK_USER. Results land in `out` when the seed runs.
 */
export function liveSeed(out: Partial<LiveSeed>, opts: { bulkDevices?: number } = {}) {
  return async (db: Db) => {
    const { admin, orgs, agents } = await seedTestDemo(db);
    const gina = await createUser({ db }, { email: GLOBEX_USER, name: "Gina Globex", password: "taskwire" });
    await withTransaction({ db }, async (tx) => {
      await tx.insert(member).values({ id: randomUUID(), organizationId: orgs.globex, userId: gina.id, role: "READ_WRITE", createdAt: new Date() });
    });
    const tokenIn = async (slug: string, userId: string, label: string) =>
      (await createApiToken({ db, actor: { organizationId: orgs[slug], userId, role: "ADMIN", label } }, { name: `${slug} live`, role: "READ_WRITE" })).secret;
    const tokens = { acme: await tokenIn("acme", admin.id, admin.email), globex: await tokenIn("globex", admin.id, admin.email), bulk: "" };
    if (opts.bulkDevices) {
      const bob = await createUser({ db }, { email: BULK_USER, name: "Bob Bulk", password: "taskwire" });
      const org = await createOrganization({ db }, { name: "Bulk Ltd", slug: "bulk", ownerId: bob.id });
      orgs.bulk = org.id;
      const bulk: DemoAgent[] = (agents.bulk = []);
      await withTransaction({ db }, async (tx) => {
        for (let i = 1; i <= opts.bulkDevices!; i++) {
          const token = `dev_${randomCode(40)}`;
          const d = await createDevice({ db: tx }, { organizationId: org.id, name: `bulk-${String(i).padStart(4, "0")}`, status: "ENABLED", agentVersion: "1.9.1", tokenHash: sha256(token) });
          bulk.push({ name: d.name, device_id: d.id, device_token: token });
        }
      });
      tokens.bulk = await tokenIn("bulk", bob.id, bob.email);
    }
    Object.assign(out, { orgs, tokens, agents });
  };
}

/** The patches' message rate: count, span and the smallest gap between the server's send times. */
export function patchRate(received: Received[]) {
  const at = received.map((r) => Date.parse(r.patch.sent));
  const gaps = at.slice(1).map((t, i) => t - at[i]);
  const spanMs = at.length ? at[at.length - 1] - at[0] : 0;
  return { count: received.length, spanMs, minGapMs: gaps.length ? Math.min(...gaps) : null, rows: received.reduce((n, r) => n + r.patch.tasks.length, 0), bytes: received.reduce((n, r) => n + r.bytes, 0) };
}
