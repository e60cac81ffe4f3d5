"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useRef, useState } from "react";
import { EmptyState } from "@/app/_components/card";
import { LiveFanouts } from "@/app/_components/live-fanouts";
import { RelativeTime } from "@/app/_components/relative-time";
import { ScrollRegion } from "@/app/_components/scroll-region";
import { StatusBadge } from "@/app/_components/status-badge";
import { useAutoRefresh } from "@/app/_lib/use-auto-refresh";
import { LiveIndicator, useLive } from "@/app/_lib/use-live";
import type { LiveFanout, LivePatch, LiveTaskRow } from "@/lib/live/protocol";
import { isDeletedName } from "@/rules/devices";
import { matchesFilter } from "@/lib/live/rows";
import { listHref } from "./search-params";

type Filter = { device?: string; type?: string; status?: string; fanout?: string };

export type ListSnapshot = {
  renderedAt: string;
  /** When the server began reading it (readingSince). */
  since: number;
  items: LiveTaskRow[];
  fanouts: LiveFanout[];
  hasOlder: boolean;
  hasNewer: boolean;
};

const COLUMNS = ["Task Code", "Type", "Status", "Device", "Organization", "Scheduled", "Created"];
const FADE_MS = 1200;

/** The user is reading or selecting: new rows must not push the table under the pointer. */
function busyReading(): boolean {
  const selection = window.getSelection();
  return window.scrollY > 120 || (!!selection && !selection.isCollapsed && selection.toString().length > 0);
}

/**
 * The task table, kept live: visible rows change in place, new matching tasks enter at the
 * top of the first page (or wait as "N new tasks" while the admin reads), rows that stop
 * matching the filters fade out. Every server render (navigation, catch-up) starts afresh.
 */
export function LiveTaskList({
  snapshot,
  filter,
  pageSize,
  emptyHint,
  heading,
  toolbar,
  organizationId,
}: {
  /** The active organization: switching it starts a new subscription. */
  organizationId: string;
  snapshot: ListSnapshot;
  filter: Filter;
  pageSize: number;
  emptyHint: React.ReactNode;
  /** The page title, beside which the live controls sit at the top right. */
  heading: React.ReactNode;
  /** Issue form, filters: between the title and the table. */
  toolbar: React.ReactNode;
}) {
  const router = useRouter();
  const [autoRefresh, setAutoRefresh] = useAutoRefresh();
  const [view, setView] = useState(() => fresh(snapshot));
  // A new server render replaces the live state (React's "adjust state on prop change").
  if (view.renderedAt !== snapshot.renderedAt) setView(fresh(snapshot, view));
  const lastCatchUp = useRef(0);
  const firstPage = !snapshot.hasNewer;

  const catchUp = () => {
    // A burst of truncated patches asks for one re-read a second at most.
    if (Date.now() - lastCatchUp.current < 1000) return;
    lastCatchUp.current = Date.now();
    router.refresh();
  };

  const onPatch = (patch: LivePatch) => {
    if (patch.truncated) catchUp();
    setView((v) => applyPatch(v, patch, { filter, firstPage, hold: busyReading() || !firstPage, pageSize }));
    if (patch.tasks.some((t) => !matchesFilter(t, filter))) {
      setTimeout(() => setView((v) => ({ ...v, rows: v.rows.filter((r) => !v.leaving.has(r.code)), leaving: new Set() })), FADE_MS);
    }
  };

  const state = useLive({ watch: { org: true }, scope: organizationId, enabled: autoRefresh, since: snapshot.since, onPatch, onCatchUp: catchUp });

  const showHeld = () => {
    if (!firstPage) return router.push(listHref(filter));
    setView((v) => ({ ...v, rows: [...v.held, ...v.rows].slice(0, pageSize), held: [], hasOlder: v.hasOlder || v.held.length + v.rows.length > pageSize }));
    window.scrollTo({ top: 0, behavior: "smooth" });
  };

  const rows = view.rows;
  return (
    <>
      <div className="flex flex-wrap items-start justify-between gap-3">
        {heading}
        <div className="flex items-center gap-3 pt-1" aria-label="Live updates">
          <LiveIndicator state={state} />
        <label className="inline-flex cursor-pointer items-center gap-2 text-sm font-medium text-slate-700">
          <input type="checkbox" role="switch" className="peer sr-only" checked={autoRefresh} onChange={(e) => setAutoRefresh(e.target.checked)} aria-label="Auto-refresh" />
          <span aria-hidden className="relative h-5 w-9 rounded-full bg-slate-300 transition peer-checked:bg-emerald-500 peer-focus-visible:outline-2 peer-focus-visible:outline-sky-600 after:absolute after:top-0.5 after:left-0.5 after:size-4 after:rounded-full after:bg-white after:shadow after:transition peer-checked:after:translate-x-4" />
          Auto-refresh {autoRefresh ? "ON" : "OFF"}
        </label>
        </div>
      </div>

      {toolbar}

      <LiveFanouts fanouts={view.fanouts} />

      {view.held.length > 0 && (
        <button type="button" onClick={showHeld} className="w-full rounded-md border border-sky-200 bg-sky-50 py-2 text-sm font-medium text-sky-800 hover:bg-sky-100">
          {view.held.length} new task{view.held.length === 1 ? "" : "s"} — show
        </button>
      )}

      <ScrollRegion label="Task list" className="card">
        <table className="w-full text-left text-sm">
          <thead className="border-b border-slate-200 bg-slate-50 text-xs tracking-wide text-slate-500 uppercase">
            <tr>
              {COLUMNS.map((h, i) => (
                <th key={h} scope="col" className={`bg-slate-50 px-4 py-2.5 font-semibold ${i === 0 ? "max-md:sticky max-md:left-0" : ""}`}>
                  {h}
                </th>
              ))}
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {rows.map((t) => (
              <tr
                key={t.code}
                data-code={t.code}
                className={`transition-[opacity,background-color] duration-1000 hover:bg-slate-50 ${view.leaving.has(t.code) ? "opacity-0" : ""} ${view.flash.has(t.code) ? "bg-sky-50" : "bg-white"}`}
              >
                {/* On a narrow screen the table scrolls sideways under the code, which stays in view. */}
                <td className="bg-inherit px-4 py-2 max-md:sticky max-md:left-0">
                  <Link href={`/tasks/${t.code}`} className="font-mono font-semibold text-sky-700 hover:underline">
                    {t.code}
                  </Link>
                </td>
                <td className="px-4 py-2 font-medium">{t.type}</td>
                <td className="px-4 py-2">
                  <StatusBadge status={t.status} />
                </td>
                <td className={`px-4 py-2 ${isDeletedName(t.device) ? "text-slate-500 line-through decoration-slate-400" : ""}`}>{t.device}</td>
                <td className="px-4 py-2 text-slate-600">{t.organization}</td>
                <td className="px-4 py-2 whitespace-nowrap">{t.wave && !t.scheduledAt ? t.wave : <RelativeTime value={t.scheduledAt} />}</td>
                <td className="px-4 py-2 whitespace-nowrap">
                  <RelativeTime value={t.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <EmptyState title={Object.values(filter).some(Boolean) ? "No tasks match these filters" : "No tasks yet"}>{emptyHint}</EmptyState>}
      </ScrollRegion>

      {(view.hasNewer || view.hasOlder) && rows.length > 0 && (
        <nav aria-label="Pages" className="flex items-center justify-between">
          {view.hasNewer ? (
            <Link className="btn" href={listHref(filter, { after: rows[0].id })} rel="prev">
              ← Previous
            </Link>
          ) : (
            <span />
          )}
          {view.hasOlder ? (
            <Link className="btn" href={listHref(filter, { before: rows[rows.length - 1].id })} rel="next">
              Next →
            </Link>
          ) : (
            <span />
          )}
        </nav>
      )}
    </>
  );
}

type View = {
  renderedAt: string;
  rows: LiveTaskRow[];
  held: LiveTaskRow[];
  leaving: Set<string>;
  flash: Set<string>;
  fanouts: LiveFanout[];
  hasOlder: boolean;
  hasNewer: boolean;
};

/** A server render's view; a row a patch moved past what the render read (it was on its way meanwhile) keeps the patch's state. */
export function fresh(s: ListSnapshot, before?: View): View {
  const patched = new Map(before?.rows.map((r) => [r.code, r]));
  const rows = s.items.map((r) => {
    const p = patched.get(r.code);
    return p && p.updatedAt > r.updatedAt ? p : r;
  });
  return { renderedAt: s.renderedAt, rows, held: [], leaving: new Set(), flash: new Set(), fanouts: s.fanouts, hasOlder: s.hasOlder, hasNewer: s.hasNewer };
}

/** Folds one patch into the view: pure, so the same patch twice changes nothing more. */
export function applyPatch(v: View, patch: LivePatch, o: { filter: Filter; firstPage: boolean; hold: boolean; pageSize: number }): View {
  const byCode = new Map(patch.tasks.map((t) => [t.code, t]));
  const leaving = new Set(v.leaving);
  const flash = new Set<string>();
  const rows = v.rows.map((r) => {
    const next = byCode.get(r.code);
    if (!next || next.updatedAt < r.updatedAt) return r;
    if (!matchesFilter(next, o.filter)) leaving.add(r.code);
    else if (next.status !== r.status) flash.add(r.code);
    return next;
  });
  const known = new Set([...rows, ...v.held].map((r) => r.code));
  const newestShown = rows[0]?.id ?? 0;
  // Only tasks newer than the top row belong above it; older unknown ones are on other pages.
  const incoming = patch.tasks.filter((t) => !known.has(t.code) && t.id > newestShown && matchesFilter(t, o.filter)).sort((a, b) => b.id - a.id);
  const held = v.held.map((h) => byCode.get(h.code) ?? h).filter((h) => matchesFilter(h, o.filter));
  let nextRows = rows;
  let hasOlder = v.hasOlder;
  if (incoming.length && o.firstPage && !o.hold) {
    nextRows = [...incoming, ...rows];
    if (nextRows.length > o.pageSize) {
      nextRows = nextRows.slice(0, o.pageSize);
      hasOlder = true;
    }
    incoming.forEach((t) => flash.add(t.code));
  } else {
    held.unshift(...incoming);
  }
  const fanouts = mergeFanouts(v.fanouts, patch.fanouts);
  return { ...v, rows: nextRows, held, leaving, flash, fanouts, hasOlder };
}

function mergeFanouts(current: LiveFanout[], updates: LiveFanout[]): LiveFanout[] {
  if (!updates.length) return current;
  const byCode = new Map(current.map((f) => [f.code, f]));
  for (const u of updates) if (u.total > 1) byCode.set(u.code, u);
  return [...byCode.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}
