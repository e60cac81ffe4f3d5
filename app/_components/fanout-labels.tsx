import type { FanoutTarget } from "@/db/schema";
import { FANOUT_OUTCOME_LABELS, type FanoutOutcome } from "@/rules/fanouts";

/** A fan-out's target as requested, in words. */
export function describeTarget(t: FanoutTarget): string {
  if (t.retry) return `retry of ${t.retry.of}: ${t.retry.group !== undefined ? "one failure group" : t.retry.statuses.join(" and ")}`;
  if (t.all) return "the whole organization";
  const list = (noun: string, names?: string[]) => {
    if (!names?.length) return "";
    const shown = names.slice(0, 3).join(", ");
    return `${noun}${names.length === 1 ? "" : "s"} ${shown}${names.length > 3 ? ` and ${names.length - 3} more` : ""}`;
  };
  return [list("OU", t.ous), list("device", t.devices)].filter(Boolean).join(" and ");
}

const OUTCOME_STYLES: Record<FanoutOutcome, string> = {
  running: "bg-sky-50 text-sky-800 ring-sky-600/30",
  paused: "bg-amber-50 text-amber-900 ring-amber-600/40",
  completed: "bg-emerald-50 text-emerald-800 ring-emerald-600/30",
  completed_with_failures: "bg-rose-50 text-rose-800 ring-rose-600/30",
  cancelled: "bg-slate-100 text-slate-700 ring-slate-500/30",
};

export function OutcomeBadge({ outcome }: { outcome: FanoutOutcome }) {
  return <span className={`inline-flex items-center whitespace-nowrap rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${OUTCOME_STYLES[outcome]}`}>{FANOUT_OUTCOME_LABELS[outcome]}</span>;
}

/** A length of time as a person reads it: 850 ms, 12 s, 4 min, 2.5 h. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}
