import type { ScheduleRunOutcome } from "@/rules/schedules";

const LOOK: Record<ScheduleRunOutcome, string> = {
  issued: "bg-emerald-50 text-emerald-800 ring-emerald-600/20",
  skipped: "bg-amber-50 text-amber-900 ring-amber-600/20",
  failed: "bg-rose-50 text-rose-800 ring-rose-600/20",
};

/** What became of a schedule's due time, as a badge (its word, never its colour alone). */
export function OutcomeBadge({ outcome }: { outcome: ScheduleRunOutcome }) {
  return <span className={`inline-flex rounded-md px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${LOOK[outcome]}`}>{outcome}</span>;
}
