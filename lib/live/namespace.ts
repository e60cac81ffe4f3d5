import type { Namespace, Server, Socket } from "socket.io";
import { and, eq } from "drizzle-orm";
import { fromNodeHeaders } from "better-auth/node";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { passes, sharedLimiter } from "../server/limits";
import type { Db } from "../../db/client";
import { fanouts, tasks } from "../../db/schema";
import { LEAST_ROLE, roleAtLeast, type Role } from "../../rules/roles";
import { clientAddress, isSameOrigin } from "../auth/origin";
import { subscribe } from "../events";
import { resolveSession } from "../orgs/session";
import { fanoutSummaries } from "../tasks/fanout-queries";
import { liveTasks } from "../tasks/queries";
import { Coalescer, type PendingChanges, type Send } from "./coalescer";
import { LIVE_CATCH_UP, LIVE_INTERVAL_MS, LIVE_MAX_ROWS, LIVE_NAMESPACE, type LivePatch, type LiveSignal, type WatchAck } from "./protocol";
import { toLiveFanout, toLiveRow } from "./rows";
import { watchSchema } from "./watch-schema";
import type { ClusterLink } from "../server/cluster";

const orgRoom = (organizationId: string) => `org:${organizationId}`;
const taskRoom = (code: string) => `task:${code}`;
const fanoutRoom = (code: string) => `fanout:${code}`;
const auditRoom = (organizationId: string) => `audit:${organizationId}`;
// Rooms that name whose access a socket rides on, so that ending it closes exactly those.
const sessionRoom = (sessionId: string) => `session:${sessionId}`;
const memberRoom = (organizationId: string, userId: string) => `member:${organizationId}:${userId}`;
const userRoom = (userId: string) => `user:${userId}`;

/** What a socket was granted when it connected; valid until an access change closes it. */
type LiveGrant = { userId: string; sessionId: string; organizationId: string; role: Role; expiresAt: number };

/** Watches per session: a tab sends one or two per connection; thousands are an attack on the server. */
export const WATCHES_PER_10S = 100;
/** Connections per client address: a reconnect storm from one place costs little. */
export const CONNECTS_PER_10S = 60;

/**
 * The `/live` namespace for browsers: authenticated from the session cookie in middleware,
 * Origin checked, clients join only their active organization's room and its tasks' and
 * fan-outs' rooms.
 * Transitions from anywhere (actions, API, agents, the clock) are coalesced per
 * organization and sent as one patch per interval, read from the database once per batch.
 */
export function attachLiveNamespace(io: Server, db: Db, opts: { intervalMs?: number; recheckMs?: number; cluster?: ClusterLink } = {}): { nsp: Namespace; stop: () => void } {
  const nsp = io.of(LIVE_NAMESPACE);
  const intervalMs = opts.intervalMs ?? LIVE_INTERVAL_MS;
  const watches = new RateLimiterMemory({ points: WATCHES_PER_10S, duration: 10 });
  const connects = sharedLimiter(db, { points: CONNECTS_PER_10S, duration: 10, keyPrefix: "live-connect" });

  nsp.use(async (socket, next) => {
    try {
      if (!isSameOrigin(socket.handshake.headers.origin, socket.handshake.headers)) return next(new Error("forbidden_origin"));
      const address = clientAddress(socket.handshake.headers);
      if (!(await passes(connects, address, "The live connect limiter failed"))) return next(new Error("rate_limited"));
      const ctx = await resolveSession({ db }, fromNodeHeaders(socket.handshake.headers));
      if (!ctx?.actor) return next(new Error("unauthorized"));
      const grant: LiveGrant = {
        userId: ctx.user.id,
        sessionId: ctx.sessionId,
        organizationId: ctx.actor.organizationId,
        role: ctx.actor.role,
        expiresAt: ctx.sessionExpiresAt.getTime(),
      };
      socket.data.grant = grant;
      socket.join([sessionRoom(grant.sessionId), memberRoom(grant.organizationId, grant.userId), userRoom(grant.userId)]);
      next();
    } catch (e) {
      // The session could not be read (the database failing): not a refusal of the session.
      // The page tries again later, without reading itself again.
      console.error("Live channel authentication failed", e);
      next(new Error("internal"));
    }
  });

  // When each organization's changes, and its audit rows, were last read for sending (or, for
  // a signal, sent): a page read before that may have missed a message that left before it
  // watched, and its watch is answered `stale`. One entry per organization.
  const changedAt = new Map<string, number>();
  const auditAt = new Map<string, number>();
  // When this node last heard that hints were lost (its listener, or another node's,
  // reconnected): what the hints would have carried was never read, for any organization.
  let lostAt = -Infinity;

  nsp.on("connection", (socket: Socket) => {
    socket.on("watch", async (raw: unknown, ack: unknown) => {
      const reply = typeof ack === "function" ? (ack as (a: WatchAck) => void) : () => {};
      const grant = socket.data.grant as LiveGrant;
      if (!(await passes(watches, grant.sessionId, "The live watch limiter failed"))) return reply({ ok: false, error: "rate_limited" });
      const parsed = watchSchema.safeParse(raw);
      if (!parsed.success) return reply({ ok: false, error: "invalid" });
      // The grant is the session as it was at connect: every change that narrows it (sign-out,
      // removal, demotion, an organization switch) closes this socket through access.changed,
      // so only the session's own end in time needs checking here.
      if (grant.expiresAt <= Date.now()) {
        reply({ ok: false, error: "unauthorized" });
        socket.disconnect(true);
        return;
      }
      const { since } = parsed.data;
      // Read once the socket is in its room: a later patch reaches it, an earlier one is counted here.
      const joined = (): WatchAck => (since === undefined ? { ok: true } : { ok: true, stale: Math.max(lostAt, ("audit" in parsed.data ? auditAt : changedAt).get(grant.organizationId) ?? -Infinity) > since });
      if ("org" in parsed.data) {
        void socket.join(orgRoom(grant.organizationId));
        return reply(joined());
      }
      if ("audit" in parsed.data) {
        // The audit trail's own rule (a demotion closes this socket: access.changed).
        if (!roleAtLeast(grant.role, LEAST_ROLE.readAudit)) return reply({ ok: false, error: "unauthorized" });
        void socket.join(auditRoom(grant.organizationId));
        return reply(joined());
      }
      try {
        if ("fanout" in parsed.data) {
          const code = parsed.data.fanout;
          const [found] = await db.select({ id: fanouts.id }).from(fanouts).where(and(eq(fanouts.code, code), eq(fanouts.organizationId, grant.organizationId))).limit(1);
          if (!found) return reply({ ok: false, error: "not_found" });
          void socket.join(fanoutRoom(code));
          return reply(joined());
        }
        const code = parsed.data.task;
        const [found] = await db.select({ id: tasks.id }).from(tasks).where(and(eq(tasks.code, code), eq(tasks.organizationId, grant.organizationId))).limit(1);
        if (!found) return reply({ ok: false, error: "not_found" });
        void socket.join(taskRoom(code));
        reply(joined());
      } catch (e) {
        console.error("Handling a live watch failed", e);
        reply({ ok: false, error: "internal" });
      }
    });
    socket.on("unwatch", (raw: unknown) => {
      const parsed = watchSchema.safeParse(raw);
      if (parsed.success && "task" in parsed.data) void socket.leave(taskRoom(parsed.data.task));
      if (parsed.success && "fanout" in parsed.data) void socket.leave(fanoutRoom(parsed.data.fanout));
    });
  });

  // Access ends at once: the sockets riding on it are closed, and the client reconnects with
  // whatever access is left (or is sent to sign in).
  const unsubscribeAccess = subscribe((e) => {
    if (e.kind !== "access.changed") return;
    if (e.sessionId) nsp.in(sessionRoom(e.sessionId)).disconnectSockets(true);
    else if (e.userId && e.organizationId) nsp.in(memberRoom(e.organizationId, e.userId)).disconnectSockets(true);
    else if (e.userId) nsp.in(userRoom(e.userId)).disconnectSockets(true);
  });

  // A safety net for what no event announces (a session deleted by hand in the database, a
  // user removed by an outside tool): every so often each socket's session is read again.
  // A session that could not be read (the database failing) keeps its socket until a re-check
  // reads it: an outage is not a sign-out.
  // One re-check at a time; the first session that cannot be read ends it (the next reads all).
  let rechecking = false;
  const recheckSessions = () => {
    if (rechecking) return;
    rechecking = true;
    void (async () => {
      for (const socket of await nsp.fetchSockets()) {
        const grant = socket.data.grant as LiveGrant | undefined;
        const ctx = await resolveSession({ db }, fromNodeHeaders(socket.handshake.headers)).catch(() => undefined);
        if (ctx === undefined) {
          console.error("Re-checking live sessions: a session could not be read; the sockets stay until the next re-check");
          return;
        }
        if (!ctx?.actor || !grant || grant.organizationId !== ctx.actor.organizationId || grant.sessionId !== ctx.sessionId) socket.disconnect(true);
      }
    })()
      .catch((e) => console.error("Re-checking live sessions failed", e))
      .finally(() => (rechecking = false));
  };
  const recheck = setInterval(recheckSessions, opts.recheckMs ?? 60_000);
  recheck.unref();

  const rooms = nsp.adapter.rooms;
  // A batch's rows are read first, for every organization, and its patches built; they leave
  // together when the coalescer says (lib/live/coalescer.ts reads ahead of the interval).
  const read = async (changes: PendingChanges): Promise<Send> => {
    const out: { room: string; patch: Omit<LivePatch, "sent"> }[] = [];
    const watchedCodes: string[] = [];
    for (const room of rooms.keys()) if (room.startsWith("task:")) watchedCodes.push(room.slice("task:".length));
    const anyFanoutRoom = [...rooms.keys()].some((room) => room.startsWith("fanout:"));
    for (const [organizationId, change] of changes) {
      const readFrom = Date.now();
      changedAt.set(organizationId, readFrom);
      const at = new Date(readFrom).toISOString();
      const orgWatched = rooms.has(orgRoom(organizationId));
      // Fan-out codes are unique across organizations, so a watched room is this one's only if
      // one of this batch's fan-outs carries its code.
      const summaries = orgWatched || (anyFanoutRoom && change.fanoutIds.size) ? (await fanoutSummaries({ db }, [...change.fanoutIds])).map(toLiveFanout) : [];
      const watchedFanouts = summaries.filter((f) => rooms.has(fanoutRoom(f.code)));
      // Nobody of this organization is looking: nothing to read, nothing to send. Otherwise the
      // changed rows are read once and shared by the organization's room and its fan-outs'.
      if (orgWatched || watchedFanouts.length) {
        const rows = (await liveTasks({ db }, { ids: [...change.taskIds] }, LIVE_MAX_ROWS)).map(toLiveRow);
        const truncated = change.taskIds.size > rows.length;
        if (orgWatched) out.push({ room: orgRoom(organizationId), patch: { at, tasks: rows, truncated, fanouts: summaries } });
        for (const f of watchedFanouts) out.push({ room: fanoutRoom(f.code), patch: { at, tasks: rows.filter((r) => r.fanout === f.code), truncated, fanouts: [f] } });
      }
      if (watchedCodes.length) {
        for (const t of await liveTasks({ db }, { organizationId, codes: watchedCodes }, watchedCodes.length)) {
          if (change.taskIds.has(t.id)) out.push({ room: taskRoom(t.code), patch: { at, tasks: [toLiveRow(t)], truncated: false, fanouts: [] } });
        }
      }
    }
    return () => {
      const sent = new Date().toISOString();
      for (const { room, patch } of out) nsp.to(room).emit("patch", { ...patch, sent } satisfies LivePatch);
    };
  };

  // Signals without rows: new audit rows (to the organization's audit room) and a schedule's
  // run (to its organization's room). The first at once, then at most one per room and topic
  // per interval, however many come: the page re-reads what it shows.
  const signalTimers = new Map<string, ReturnType<typeof setTimeout>>();
  const signalWaiting = new Set<string>();
  const signal = (room: string, s: LiveSignal) => {
    if (!rooms.has(room)) return;
    const key = `${room} ${JSON.stringify(s)}`;
    if (signalTimers.has(key)) {
      signalWaiting.add(key);
      return;
    }
    nsp.to(room).emit("signal", s);
    signalTimers.set(
      key,
      setTimeout(() => {
        signalTimers.delete(key);
        if (signalWaiting.delete(key)) signal(room, s);
      }, intervalMs),
    );
  };
  const unsubscribeSignals = subscribe((e) => {
    if (e.kind === "audit.recorded") {
      auditAt.set(e.organizationId, Date.now());
      signal(auditRoom(e.organizationId), { topic: "audit" });
    }
    if (e.kind === "schedule.ran" || e.kind === "schedule.changed") {
      changedAt.set(e.organizationId, Date.now());
      signal(orgRoom(e.organizationId), { topic: "schedule", id: e.scheduleId });
    }
  });

  // Patches leave a twentieth of the interval further apart than the interval: on their way the
  // network and a busy client bunch them, and five sent exactly 200 ms apart reached a client
  // within one second (docs/performance.md, "Live patches read ahead").
  const coalescer = new Coalescer(intervalMs + intervalMs / 20, (changes) => read(changes).catch((e) => console.error("Reading live patches failed", e)));
  const unsubscribe = subscribe((e) => coalescer.add(e));
  // Transitions made on other nodes arrive as their batched hints, and are read here like ours.
  opts.cluster?.on("live", (organizationId, taskIds, fanoutIds) => coalescer.addChanged(organizationId, taskIds, fanoutIds));
  // Hints were lost: which tasks changed meanwhile is not known, so every page here re-reads;
  // nor whose access ended elsewhere (a removal, a sign-out), so every session is read again.
  opts.cluster?.on("resync", () => {
    lostAt = Date.now();
    nsp.emit(LIVE_CATCH_UP);
    recheckSessions();
  });
  return {
    nsp,
    stop: () => {
      clearInterval(recheck);
      unsubscribe();
      unsubscribeAccess();
      unsubscribeSignals();
      for (const t of signalTimers.values()) clearTimeout(t);
      coalescer.stop();
    },
  };
}
