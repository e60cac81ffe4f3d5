import Link from "next/link";
import { STATUS_BAR, STATUS_FILL } from "./status-badge";
import { FINAL_STATUSES, TASK_STATUSES, type TaskStatus } from "@/rules/tasks";
import { tasksIn } from "@/rules/fanouts";

export type FanoutBar = { code: string; type: string; total: number; counts: Record<TaskStatus, number>; outcome?: string; wave?: string | null };

function duration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Each status's share of the bar, left to right in the statuses' order, in percent. */
export function segments(fanout: FanoutBar): { status: TaskStatus; x: number; width: number }[] {
  let x = 0;
  return TASK_STATUSES.filter((s) => fanout.counts[s] > 0).map((status) => {
    const width = (fanout.counts[status] / fanout.total) * 100;
    const segment = { status, x, width };
    x += width;
    return segment;
  });
}

/** One fan-out as a stacked bar by status, each count linking to the list filtered to it. */
export function FanoutProgress({ fanout, pace }: { fanout: FanoutBar; pace?: { perSecond: number; etaSeconds: number | null; offline: number } | null }) {
  const done = tasksIn(fanout.counts, FINAL_STATUSES);
  const pct = fanout.total ? Math.round((done / fanout.total) * 100) : 0;
  return (
    <div className="card px-4 py-3" data-fanout={fanout.code}>
      <div className="mb-2 flex items-baseline justify-between gap-4 text-sm">
        <p>
          <Link href={`/tasks/fanouts/${fanout.code}`} className="font-mono font-semibold text-sky-700 hover:underline">
            {fanout.code}
          </Link>{" "}
          <span className="font-medium">{fanout.type}</span>{" "}
          <span className="text-slate-500">
            to {fanout.total} device{fanout.total === 1 ? "" : "s"}
          </span>
          {fanout.wave && <span className="text-slate-600"> · {fanout.wave}</span>}
        </p>
        <p className="tabular-nums text-slate-600">
          {done}/{fanout.total} finished · {pct}%
          {fanout.outcome === "paused" && done < fanout.total && <span className="font-medium text-amber-800"> · paused</span>}
          {pace && done < fanout.total && fanout.outcome !== "paused" && (
            <span className="text-slate-500">
              {" "}
              · {pace.perSecond >= 10 ? Math.round(pace.perSecond) : pace.perSecond.toFixed(1)} tasks/s
              {pace.etaSeconds !== null && ` · about ${duration(pace.etaSeconds)} left`}
              {pace.offline > 0
                ? ` · ${pace.etaSeconds === null ? "" : "then "}waiting for ${pace.offline} offline device${pace.offline === 1 ? "" : "s"}`
                : pace.etaSeconds === null && " · waiting for devices"}
            </span>
          )}
        </p>
      </div>
      <div className="h-2.5 overflow-hidden rounded-full bg-slate-100" role="progressbar" aria-label={`Fan-out ${fanout.code} progress`} aria-valuenow={pct} aria-valuemin={0} aria-valuemax={100}>
        {/* Segments as SVG geometry rather than style widths: the CSP allows no inline style attributes. */}
        <svg aria-hidden className="block size-full" viewBox="0 0 100 1" preserveAspectRatio="none">
          {segments(fanout).map(({ status, x, width }) => (
            <rect key={status} x={x} y={0} width={width} height={1} className={STATUS_FILL[status]}>
              <title>{`${status}: ${fanout.counts[status]}`}</title>
            </rect>
          ))}
        </svg>
      </div>
      <ul className="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-xs">
        {TASK_STATUSES.filter((s) => fanout.counts[s] > 0).map((s) => (
          <li key={s}>
            <Link href={`/tasks?fanout=${fanout.code}&status=${s}`} className="inline-flex items-center gap-1 text-slate-600 hover:text-slate-900 hover:underline">
              <span aria-hidden className={`size-2 rounded-full ${STATUS_BAR[s]}`} />
              {s} <span className="font-semibold tabular-nums">{fanout.counts[s]}</span>
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}
