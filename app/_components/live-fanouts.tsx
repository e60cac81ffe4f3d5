"use client";

import type { LiveFanout } from "@/lib/live/protocol";
import { FINAL_STATUSES } from "@/rules/tasks";
import { tasksIn } from "@/rules/fanouts";
import { FanoutProgress } from "./fanout-progress";
import { useNow } from "./relative-time";

/** How long a finished fan-out stays on screen before it folds away. */
export const LINGER_MS = 60_000;

export function fanoutDone(f: LiveFanout): number {
  return tasksIn(f.counts, FINAL_STATUSES);
}

export type FanoutPace = { perSecond: number; etaSeconds: number | null; offline: number };

/**
 * Tasks per second since the fan-out was issued, and the time left at that pace for the
 * tasks whose devices can answer: those waiting for `offline` devices are left out (they
 * wait for their agent, not for the pace), and the time left is null when none can.
 */
export function fanoutPace(f: LiveFanout, now: number, offline = 0): FanoutPace {
  const done = fanoutDone(f);
  const end = done === f.total && f.lastFinishedAt ? Date.parse(f.lastFinishedAt) : now;
  const elapsed = Math.max(1, (end - Date.parse(f.createdAt)) / 1000);
  const perSecond = done / elapsed;
  const answerable = Math.max(0, f.total - done - offline);
  return { perSecond, etaSeconds: done === f.total ? 0 : perSecond > 0 && answerable > 0 ? answerable / perSecond : null, offline: Math.min(offline, f.total - done) };
}

/** The active fan-outs above the task table, updated by live patches. */
export function LiveFanouts({ fanouts }: { fanouts: LiveFanout[] }) {
  const now = useNow();
  const visible = fanouts.filter((f) => {
    const finished = fanoutDone(f) === f.total;
    return !finished || !f.lastFinishedAt || now === null || now - Date.parse(f.lastFinishedAt) < LINGER_MS;
  });
  if (!visible.length) return null;
  return (
    <section aria-label="Active fan-outs" className="grid gap-3">
      {visible.map((f) => (
        <FanoutProgress key={f.code} fanout={f} pace={now === null ? null : fanoutPace(f, now)} />
      ))}
    </section>
  );
}
