"use client";

import { useRouter } from "next/navigation";
import { createContext, useContext, useEffect, useState } from "react";
import { RelativeTime } from "@/app/_components/relative-time";
import { StatusBadge } from "@/app/_components/status-badge";
import { LiveIndicator, useLive, type LiveState } from "@/app/_lib/use-live";
import type { LiveTaskRow } from "@/lib/live/protocol";
import { isFinal, LEASE_MINUTES } from "@/rules/tasks";

/** How long a final patch waits for a server render already on its way before asking for one. */
const FINAL_REFRESH_DELAY_MS = 1000;

type Live = { row: LiveTaskRow; state: LiveState; setActing: (acting: boolean) => void };
const TaskLiveContext = createContext<Live | null>(null);

function useTask(): Live {
  const live = useContext(TaskLiveContext);
  if (!live) throw new Error("Inside <TaskLiveProvider> only");
  return live;
}

/**
 * Keeps the detail page true while the task moves: each patch's row replaces the status,
 * timestamps and message in place, with no round trip to the server. Only the change to a
 * final status re-renders the page on the server, since what may be done next (re-run, not
 * cancel) and the full message are not in the patch. The subscription ends once the task is
 * final, since nothing about it can change any more.
 */
export function TaskLiveProvider({ initial, since, children }: { initial: LiveTaskRow; since: number; children: React.ReactNode }) {
  const router = useRouter();
  const [row, setRow] = useState(initial);
  const [seen, setSeen] = useState(initial);
  // One of this page's own actions is on its way: its answer is a server render.
  const [acting, setActing] = useState(false);
  // A new server render (a refresh, an action's revalidation) is the truth from then on.
  if (seen !== initial) {
    setSeen(initial);
    if (initial.updatedAt >= row.updatedAt) setRow(initial);
  }
  const final = isFinal(row.status);
  const state = useLive({
    watch: { task: initial.code },
    enabled: !final,
    since,
    onPatch: (p) => {
      const next = p.tasks.find((t) => t.code === row.code);
      // What the page already shows (an action's own answer got here first) changes nothing.
      if (!next || next.updatedAt <= row.updatedAt) return;
      setRow(next);
    },
    onCatchUp: () => router.refresh(),
  });
  // Final by a patch the server has not rendered yet: re-read the page once, a moment later,
  // unless a render as new arrives first. While this page's own action (a Cancel, which the
  // patch may overtake) is on its way, its answer is that render, however long it takes. So
  // one change makes one server render.
  const unrendered = final && row.updatedAt > seen.updatedAt;
  useEffect(() => {
    if (!unrendered || acting) return;
    const t = setTimeout(() => router.refresh(), FINAL_REFRESH_DELAY_MS);
    return () => clearTimeout(t);
  }, [unrendered, acting, router]);
  return <TaskLiveContext value={{ row, state, setActing }}>{children}</TaskLiveContext>;
}

/** Tells the page that one of its own actions is on its way (`pending`), whose answer re-renders it. */
export function useOwnAction(pending: boolean): void {
  const { setActing } = useTask();
  useEffect(() => setActing(pending), [pending, setActing]);
}

export function TaskLive() {
  const { row, state } = useTask();
  if (isFinal(row.status)) return <span className="text-xs text-slate-500">Finished · no further updates</span>;
  return <LiveIndicator state={state} />;
}

export function LiveStatus({ size }: { size?: "lg" }) {
  return <StatusBadge status={useTask().row.status} size={size} />;
}

export function LiveTime({ field, empty }: { field: "updatedAt" | "startedAt" | "finishedAt"; empty?: string }) {
  return <RelativeTime value={useTask().row[field]} empty={empty} />;
}

export function LiveExpires() {
  const { row } = useTask();
  return (
    <>
      {isFinal(row.status) ? (
        <span className="text-slate-500">— (finished)</span>
      ) : row.status === "SCHEDULED" && row.wave && !row.scheduledAt ? (
        // Its time to live counts from its release (rules/rollouts.ts): no date to show yet.
        <span>Its time to live counts from when its wave opens</span>
      ) : (
        <RelativeTime value={row.expiresAt} />
      )}
      {row.status === "IN_PROGRESS" && <span className="block text-xs text-slate-500">Fails if no result within {LEASE_MINUTES[row.type]} minutes of starting</span>}
    </>
  );
}

export function LiveMessage() {
  const { row } = useTask();
  return row.message ? (
    // A long message scrolls inside its box: the box takes the focus so the keyboard can scroll it.
    <pre tabIndex={0} className="max-h-80 overflow-auto rounded-md bg-slate-900 p-3 font-mono text-xs whitespace-pre-wrap text-slate-100">
      {row.message}
    </pre>
  ) : (
    <p className="text-sm text-slate-500">{isFinal(row.status) ? "The agent sent no message." : "No message yet: the agent reports one when the task finishes."}</p>
  );
}
