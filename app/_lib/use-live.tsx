"use client";

import { useEffect, useRef, useState } from "react";
import { io, type Socket } from "socket.io-client";
import { LIVE_CATCH_UP, LIVE_NAMESPACE, type LivePatch, type LiveSignal, type WatchAck, type WatchRequest } from "@/lib/live/protocol";

export type LiveState = "connecting" | "live" | "reconnecting" | "paused";

/**
 * One Socket.IO connection to the live channel while `enabled`: it watches what the page
 * shows, hands each coalesced patch to `onPatch`, and calls `onCatchUp` whenever the page
 * may have missed something (a reconnect, or turning live back on) so it can re-read its
 * state. Disabled means disconnected: no stream, no polling. An island keeps its hook (no
 * `key` that changes per render) so that a re-read does not open a new subscription.
 */
export function useLive(opts: {
  watch: WatchRequest | null;
  enabled: boolean;
  onPatch: (p: LivePatch) => void;
  onCatchUp: () => void;
  /** What the watch means (e.g. the active organization): a change reconnects. */
  scope?: string;
  /** A change without rows (new audit rows, a schedule's run). */
  onSignal?: (s: LiveSignal) => void;
  /** When the server began reading what the page shows (ms since the epoch): what changed between then and the first watch is caught up. */
  since?: number;
}): LiveState {
  const [state, setState] = useState<LiveState>(opts.enabled ? "connecting" : "paused");
  const handlers = useRef(opts);
  useEffect(() => {
    handlers.current = opts;
  });
  // The server reads the session (and its active organization) when the socket connects.
  const watchKey = opts.watch ? JSON.stringify([opts.watch, opts.scope ?? null]) : null;
  // Once the page has been live, or paused, every later (re)connection may have missed
  // something: a page opened with Auto-refresh OFF shows a snapshot that ages until ON.
  const everLive = useRef(false);
  useEffect(() => {
    if (!opts.enabled) everLive.current = true;
  }, [opts.enabled]);

  useEffect(() => {
    if (!opts.enabled || !watchKey) return;
    const [watch] = JSON.parse(watchKey) as [WatchRequest, string | null];
    const socket: Socket = io(LIVE_NAMESPACE, { transports: ["websocket"], withCredentials: true });
    socket.on("connect", () => {
      const { since } = handlers.current;
      socket.emit("watch", since === undefined ? watch : { ...watch, since }, (ack: WatchAck) => {
        if (!ack?.ok) return;
        setState("live");
        // Anything that changed while we were away, or paused, or since the page was read
        // and before this watch, is read again from the server.
        if (everLive.current || ack.stale) handlers.current.onCatchUp();
        everLive.current = true;
      });
    });
    socket.on("patch", (p: LivePatch) => handlers.current.onPatch(p));
    socket.on("signal", (s: LiveSignal) => handlers.current.onSignal?.(s));
    socket.on(LIVE_CATCH_UP, () => handlers.current.onCatchUp());
    let retry: ReturnType<typeof setTimeout> | undefined;
    socket.on("disconnect", (reason) => {
      setState("reconnecting");
      // The server closed it (session ended, access removed): re-read the page, which
      // signs the user out or shows what they may still see, and try again later.
      if (reason === "io server disconnect") {
        handlers.current.onCatchUp();
        retry = setTimeout(() => socket.connect(), 5_000);
      }
    });
    socket.on("connect_error", (err) => {
      setState("reconnecting");
      // A refusal by the server's middleware is not retried by Socket.IO itself.
      if (!socket.active) {
        if (err.message === "unauthorized") handlers.current.onCatchUp();
        retry = setTimeout(() => socket.connect(), 5_000);
      }
    });
    return () => {
      clearTimeout(retry);
      socket.removeAllListeners();
      socket.disconnect();
      setState("paused");
    };
  }, [opts.enabled, watchKey]);

  return opts.enabled ? state : "paused";
}

export function LiveIndicator({ state }: { state: LiveState }) {
  const look: Record<LiveState, [string, string]> = {
    live: ["bg-emerald-500", "Live"],
    connecting: ["bg-slate-400 animate-pulse", "Connecting…"],
    reconnecting: ["bg-amber-500 animate-pulse", "Reconnecting…"],
    paused: ["bg-slate-300", "Paused"],
  };
  const [dot, label] = look[state];
  return (
    <span role="status" aria-live="polite" data-live-state={state} className="inline-flex items-center gap-1.5 text-xs font-medium text-slate-600">
      <span aria-hidden className={`size-2 rounded-full ${dot}`} />
      {label}
    </span>
  );
}
