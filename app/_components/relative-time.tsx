"use client";

import { format, formatDistanceToNowStrict, isFuture } from "date-fns";
import { useSyncExternalStore } from "react";

// One clock for every timestamp on the page, ticking every 15 s while anything shows one.
const TICK_MS = 15_000;
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | undefined;
let clock = Date.now();

function subscribe(listener: () => void) {
  listeners.add(listener);
  // React re-reads the snapshot after subscribing, so a stale clock is corrected at once.
  if (!timer) clock = Date.now();
  timer ??= setInterval(() => {
    clock = Date.now();
    listeners.forEach((l) => l());
  }, TICK_MS);
  return () => {
    listeners.delete(listener);
    if (!listeners.size) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}

/** The page's shared clock: moves every 15 s (stable snapshots); null while server-rendering. */
export function useNow(): number | null {
  return useSyncExternalStore(subscribe, () => clock, () => null);
}

/**
 * "3 minutes ago", with the exact local time on hover. The server renders the exact UTC
 * time; the browser swaps in the relative form after hydration and keeps it current.
 */
export function RelativeTime({ value, empty = "—" }: { value: string | Date | null | undefined; empty?: string }) {
  const now = useNow();
  if (!value) return <span className="text-slate-500">{empty}</span>;
  const date = typeof value === "string" ? new Date(value) : value;
  const iso = date.toISOString();
  if (now === null) {
    return (
      <time dateTime={iso} title={iso}>
        {iso.slice(0, 19).replace("T", " ")} UTC
      </time>
    );
  }
  // `now` only says when to render again; the words compare with the time of this render, as
  // the distance does: a time read a moment ago, shown on a clock up to a tick old, is not
  // "in 6 seconds".
  const seconds = Number.parseInt(formatDistanceToNowStrict(date, { unit: "second", roundingMethod: "round" }), 10);
  const distance = formatDistanceToNowStrict(date, { roundingMethod: "round" });
  const text = seconds < 5 ? "just now" : isFuture(date) ? `in ${distance}` : `${distance} ago`;
  return (
    <time dateTime={iso} title={format(date, "yyyy-MM-dd HH:mm:ss xxx")} className="cursor-help underline decoration-slate-300 decoration-dotted underline-offset-2">
      {text}
    </time>
  );
}
