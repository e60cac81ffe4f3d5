import type { IncomingHttpHeaders } from "node:http";
import type { Namespace, Server, Socket } from "socket.io";
import { and, eq } from "drizzle-orm";
import { fromNodeHeaders } from "better-auth/node";
import type { Db } from "../../db/client";
import { tasks } from "../../db/schema";
import { resolveSession } from "../auth/session";
import { subscribe } from "../events";
import { fanoutSummaries, liveTasks } from "../tasks/queries";
import { Coalescer, type PendingChanges } from "./coalescer";
import { LIVE_INTERVAL_MS, LIVE_MAX_ROWS, LIVE_NAMESPACE, watchSchema, type LivePatch, type WatchAck } from "./protocol";
import { toLiveFanout, toLiveRow } from "./rows";

export const orgRoom = (organizationId: string) => `org:${organizationId}`;
export const taskRoom = (code: string) => `task:${code}`;

/** The browser must be on this very site: a foreign page cannot ride the session cookie. */
export function originAllowed(headers: IncomingHttpHeaders, publicUrl?: string): boolean {
  const origin = headers.origin;
  if (!origin) return false;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false;
  }
  const allowed = [headers.host, publicUrl ? new URL(publicUrl).host : undefined];
  return allowed.includes(host);
}

/**
 * The `/live` namespace for browsers: authenticated from the session cookie in middleware,
 * Origin checked, clients join only their active organization's room and its tasks' rooms.
 * Transitions from anywhere (actions, API, agents, the clock) are coalesced per
 * organization and sent as one patch per interval, read from the database once per batch.
 */
export function attachLiveNamespace(io: Server, db: Db, opts: { publicUrl?: string; intervalMs?: number; recheckMs?: number } = {}): { nsp: Namespace; stop: () => void } {
  const nsp = io.of(LIVE_NAMESPACE);

  nsp.use(async (socket, next) => {
    try {
      if (!originAllowed(socket.handshake.headers, opts.publicUrl)) return next(new Error("forbidden_origin"));
      const ctx = await resolveSession(db, fromNodeHeaders(socket.handshake.headers));
      if (!ctx?.actor) return next(new Error("unauthorized"));
      next();
    } catch (e) {
      console.error("Live channel authentication failed", e);
      next(new Error("unauthorized"));
    }
  });

  nsp.on("connection", (socket: Socket) => {
    socket.on("watch", async (raw: unknown, ack: unknown) => {
      const reply = typeof ack === "function" ? (ack as (a: WatchAck) => void) : () => {};
      const parsed = watchSchema.safeParse(raw);
      if (!parsed.success) return reply({ ok: false, error: "invalid" });
      // Re-read the session each time: the active organization may have been switched.
      const ctx = await resolveSession(db, fromNodeHeaders(socket.handshake.headers)).catch(() => null);
      if (!ctx?.actor) {
        reply({ ok: false, error: "unauthorized" });
        socket.disconnect(true);
        return;
      }
      const orgId = ctx.actor.organizationId;
      // Rooms joined from here on belong to this organization (re-checked every minute).
      if (socket.data.organizationId !== orgId) for (const room of socket.rooms) if (room.startsWith("task:")) void socket.leave(room);
      socket.data.organizationId = orgId;
      // A socket watches one organization at a time: leave any other's rooms.
      for (const room of socket.rooms) if (room.startsWith("org:") && room !== orgRoom(orgId)) void socket.leave(room);
      if ("org" in parsed.data) {
        void socket.join(orgRoom(orgId));
        return reply({ ok: true });
      }
      const code = parsed.data.task;
      const found = db.select({ id: tasks.id }).from(tasks).where(and(eq(tasks.code, code), eq(tasks.organizationId, orgId))).get();
      if (!found) return reply({ ok: false, error: "not_found" });
      void socket.join(taskRoom(code));
      reply({ ok: true });
    });
    socket.on("unwatch", (raw: unknown) => {
      const parsed = watchSchema.safeParse(raw);
      if (parsed.success && "task" in parsed.data) void socket.leave(taskRoom(parsed.data.task));
    });
  });

  // Sessions end and members are removed while sockets stay open: every minute each socket's
  // session is read again, and one that no longer grants its organization is closed.
  const recheck = setInterval(() => {
    void (async () => {
      for (const socket of await nsp.fetchSockets()) {
        const watching = socket.data.organizationId as string | undefined;
        const ctx = await resolveSession(db, fromNodeHeaders(socket.handshake.headers)).catch(() => null);
        if (!ctx?.actor || (watching && watching !== ctx.actor.organizationId)) socket.disconnect(true);
      }
    })().catch((e) => console.error("Re-checking live sessions failed", e));
  }, opts.recheckMs ?? 60_000);
  recheck.unref();

  const rooms = nsp.adapter.rooms;
  const send = (changes: PendingChanges) => {
    const watchedCodes: string[] = [];
    for (const room of rooms.keys()) if (room.startsWith("task:")) watchedCodes.push(room.slice("task:".length));
    for (const [organizationId, change] of changes) {
      // Nobody of this organization is looking: nothing to read, nothing to send.
      if (rooms.has(orgRoom(organizationId))) {
        const rows = liveTasks(db, { ids: [...change.taskIds] }, LIVE_MAX_ROWS).map(toLiveRow);
        const patch: LivePatch = {
          at: new Date().toISOString(),
          tasks: rows,
          truncated: change.taskIds.size > rows.length,
          fanouts: fanoutSummaries(db, [...change.fanoutIds]).map(toLiveFanout),
        };
        nsp.to(orgRoom(organizationId)).emit("patch", patch);
      }
      if (watchedCodes.length) {
        for (const t of liveTasks(db, { organizationId, codes: watchedCodes }, watchedCodes.length)) {
          if (!change.taskIds.has(t.id)) continue;
          const patch: LivePatch = { at: new Date().toISOString(), tasks: [toLiveRow(t)], truncated: false, fanouts: [] };
          nsp.to(taskRoom(t.code)).emit("patch", patch);
        }
      }
    }
  };

  const coalescer = new Coalescer(opts.intervalMs ?? LIVE_INTERVAL_MS, (changes) => {
    try {
      send(changes);
    } catch (e) {
      console.error("Sending live patches failed", e);
    }
  });
  const unsubscribe = subscribe((e) => coalescer.add(e));
  return {
    nsp,
    stop: () => {
      clearInterval(recheck);
      unsubscribe();
      coalescer.stop();
    },
  };
}
