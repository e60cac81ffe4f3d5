"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useRef, useState } from "react";
import { EmptyState } from "@/app/_components/card";
import { formatDuration, OutcomeBadge } from "@/app/_components/fanout-labels";
import { STATUS_FILL } from "@/app/_components/status-badge";
import { fanoutDone } from "@/app/_components/live-fanouts";
import { segments } from "@/app/_components/fanout-progress";
import { RelativeTime, useNow } from "@/app/_components/relative-time";
import { ScrollRegion } from "@/app/_components/scroll-region";
import { LiveIndicator, useLive } from "@/app/_lib/use-live";
import type { LiveFanout } from "@/lib/live/protocol";
import { TASK_STATUSES } from "@/rules/tasks";

export type FanoutListRow = LiveFanout & { id: number; target: string; issuedBy: string };

/** How often at most the first page is read again for fan-outs it does not show yet. */
const REREAD_MS = 1_000;

function MiniBar({ f }: { f: LiveFanout }) {
  const done = fanoutDone(f);
  return (
    <div className="min-w-32 space-y-1">
      <div className="h-2 overflow-hidden rounded-full bg-slate-100" role="img" aria-label={TASK_STATUSES.filter((s) => f.counts[s]).map((s) => `${s} ${f.counts[s]}`).join(", ")}>
        <svg aria-hidden className="block size-full" viewBox="0 0 100 1" preserveAspectRatio="none">
          {segments(f).map(({ status, x, width }) => (
            <rect key={status} x={x} y={0} width={width} height={1} className={STATUS_FILL[status]} />
          ))}
        </svg>
      </div>
      <p className="text-xs tabular-nums text-slate-600">
        {done}/{f.total} finished
        {f.counts.FAILED + f.counts.EXPIRED > 0 && <span className="text-rose-700"> · {f.counts.FAILED + f.counts.EXPIRED} failed or expired</span>}
      </p>
    </div>
  );
}

type Patched = Map<string, { fanout: LiveFanout; at: number }>;

/** The rows of a server render, with every fan-out patched by a read that began after that render's. */
function overlay(rows: FanoutListRow[], patched: Patched): FanoutListRow[] {
  return rows.map((r) => {
    const p = patched.get(r.code);
    return p ? { ...r, ...p.fanout } : r;
  });
}

/**
 * The fan-out list, its rows patched live; on the first page, fan-outs issued meanwhile are
 * read in. A re-read keeps the subscription: patches that arrive while it is on its way are
 * laid over its rows when they were read after it.
 */
export function LiveFanoutList({ rows: initial, firstPage, renderedAt, since }: { rows: FanoutListRow[]; firstPage: boolean; renderedAt: string; since: number }) {
  const router = useRouter();
  const [view, setView] = useState<{ renderedAt: string; patched: Patched }>(() => ({ renderedAt, patched: new Map() }));
  if (view.renderedAt !== renderedAt) setView({ renderedAt, patched: new Map([...view.patched].filter(([, p]) => p.at > since)) });
  const rows = overlay(initial, view.patched);
  const now = useNow();
  const reread = useRef<ReturnType<typeof setTimeout> | null>(null);
  const state = useLive({
    watch: { org: true },
    enabled: true,
    since,
    onPatch: (p) => {
      if (!p.fanouts.length) return;
      const at = Date.parse(p.at);
      // Kept for a re-read on its way: the fan-outs shown, and those issued since this render.
      setView((v) => {
        const patched: Patched = new Map(v.patched);
        for (const fanout of p.fanouts) if (Date.parse(fanout.createdAt) >= since || initial.some((r) => r.code === fanout.code)) patched.set(fanout.code, { fanout, at });
        return { ...v, patched };
      });
      // A fan-out newer than the first row, and not shown: issued since this page was read.
      const newest = initial[0] ? Date.parse(initial[0].createdAt) : 0;
      const issued = p.fanouts.some((f) => Date.parse(f.createdAt) >= newest && !initial.some((r) => r.code === f.code));
      if (firstPage && issued && !reread.current) {
        reread.current = setTimeout(() => {
          reread.current = null;
          router.refresh();
        }, REREAD_MS);
      }
    },
    onCatchUp: () => router.refresh(),
  });
  if (!rows.length) return <EmptyState title="No fan-outs here">Issue a task from the Tasks page; every issue is a fan-out, even to one device.</EmptyState>;
  return (
    <div className="card">
      <div className="flex justify-end px-4 pt-2">
        <LiveIndicator state={state} />
      </div>
      <ScrollRegion label="Fan-outs table">
        <table className="w-full text-left text-sm">
          <thead className="text-xs text-slate-500">
            <tr>
              <th className="px-4 py-2 font-medium">Fan-out</th>
              <th className="px-2 py-2 font-medium">Outcome</th>
              <th className="px-2 py-2 font-medium">Target</th>
              <th className="px-2 py-2 font-medium">Issued</th>
              <th className="px-2 py-2 font-medium">Progress</th>
              <th className="px-4 py-2 font-medium">Duration</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((f) => {
              const end = f.lastFinishedAt ? Date.parse(f.lastFinishedAt) : now;
              return (
                <tr key={f.code} className="border-t border-slate-100 align-top" data-fanout={f.code}>
                  <td className="px-4 py-2">
                    <Link href={`/tasks/fanouts/${f.code}`} className="font-mono font-semibold text-sky-700 hover:underline">
                      {f.code}
                    </Link>
                    <div className="text-xs text-slate-600">{f.type}</div>
                  </td>
                  <td className="px-2 py-2">
                    <OutcomeBadge outcome={f.outcome} />
                    {f.outcome === "paused" && f.pauseReason && <div className="mt-1 max-w-56 text-xs text-slate-600">{f.pauseReason}</div>}
                    {f.wave && <div className="mt-1 text-xs text-slate-600">{f.wave}</div>}
                  </td>
                  <td className="min-w-40 max-w-64 px-2 py-2">
                    <div className="break-words">{f.target}</div>
                    <div className="text-xs text-slate-500">
                      {f.total} device{f.total === 1 ? "" : "s"}
                    </div>
                  </td>
                  <td className="px-2 py-2">
                    <RelativeTime value={f.createdAt} />
                    <div className="text-xs text-slate-500">{f.issuedBy}</div>
                  </td>
                  <td className="px-2 py-2">
                    <MiniBar f={f} />
                  </td>
                  <td className="px-4 py-2 tabular-nums">{end === null ? "—" : formatDuration(Math.max(0, end - Date.parse(f.createdAt)))}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </ScrollRegion>
    </div>
  );
}
