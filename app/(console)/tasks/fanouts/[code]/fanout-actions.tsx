"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/app/_lib/action-result";
import { cancelFanoutRestAction, continueFanoutAction, pauseFanoutAction, retryFanoutAction, type RetrySummary } from "../actions";

type Outcome = { kind: "retried"; summary: RetrySummary } | { kind: "cancelled"; count: number } | { kind: "paused" } | { kind: "resumed" } | { kind: "continued"; wave: number } | { kind: "error"; message: string };

function OutcomeMessage({ outcome }: { outcome: Outcome | null }) {
  if (!outcome) return null;
  if (outcome.kind === "error")
    return (
      <p role="alert" className="text-sm text-rose-700">
        {outcome.message}
      </p>
    );
  if (outcome.kind === "paused" || outcome.kind === "resumed")
    return (
      <p role="status" className="text-sm text-emerald-800">
        {outcome.kind === "paused" ? "Paused: nothing new of this fan-out is sent to its agents until you resume it." : "Resumed: its waiting tasks are on their way."}
      </p>
    );
  if (outcome.kind === "continued")
    return (
      <p role="status" className="text-sm text-emerald-800">
        Continued: wave {outcome.wave} is open and its tasks are on their way.
      </p>
    );
  if (outcome.kind === "cancelled")
    return (
      <p role="status" className="text-sm text-emerald-800">
        Cancelled {outcome.count} task{outcome.count === 1 ? "" : "s"} that had not run.
      </p>
    );
  const { summary } = outcome;
  return (
    <div role="status" className="space-y-1 text-sm text-emerald-800">
      <p>
        Issued retry fan-out{" "}
        <Link href={`/tasks/fanouts/${summary.fanout}`} className="font-mono font-semibold text-sky-700 hover:underline">
          {summary.fanout}
        </Link>{" "}
        to {summary.total} device{summary.total === 1 ? "" : "s"}.
      </p>
      {summary.skipped.length > 0 && (
        <p className="text-slate-700">
          Skipped {summary.skipped.length}: {summary.skipped.slice(0, 10).map((s) => `${s.device} (${s.reason})`).join(", ")}
          {summary.skipped.length > 10 && ` and ${summary.skipped.length - 10} more`}
        </p>
      )}
    </div>
  );
}

function useFanoutAction() {
  const router = useRouter();
  const [pending, start] = useTransition();
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const run = (fn: () => Promise<Outcome>) =>
    start(async () => {
      setOutcome(null);
      const o = await fn();
      setOutcome(o);
      if (o.kind === "error") router.refresh();
    });
  return { pending, outcome, run };
}

/** An action's answer as the outcome shown: `ok`'s on success, its message on failure. */
const settle = async <T,>(answer: Promise<ActionResult<T>>, ok: (data: T) => Outcome): Promise<Outcome> => {
  const r = await answer;
  return r.ok ? ok(r.data as T) : { kind: "error", message: r.message };
};

const retry = (code: string, request: { statuses?: string[]; group?: string }) => () => settle(retryFanoutAction(code, request), (summary) => ({ kind: "retried", summary }));

/** The fan-out's actions: retry what failed, cancel what has not run. */
export function FanoutActions({ code, failed, expired, waiting, open, paused }: { code: string; failed: number; expired: number; waiting: number; open: boolean; paused: boolean }) {
  const { pending, outcome, run } = useFanoutAction();
  return (
    <div className="space-y-3">
      <div className="flex flex-wrap gap-2">
        <button type="button" className="btn btn-primary" disabled={pending || failed === 0} onClick={() => run(retry(code, { statuses: ["FAILED"] }))}>
          Retry failed ({failed})
        </button>
        <button type="button" className="btn" disabled={pending || failed + expired === 0} onClick={() => run(retry(code, { statuses: ["FAILED", "EXPIRED"] }))}>
          Retry failed and expired ({failed + expired})
        </button>
        {open && (
          <button
            type="button"
            className="btn"
            disabled={pending}
            onClick={() => run(() => settle(pauseFanoutAction(code, !paused), () => ({ kind: paused ? "resumed" : "paused" })))}
          >
            {paused ? "Resume" : "Pause"}
          </button>
        )}
        <button
          type="button"
          className="btn btn-danger"
          disabled={pending || waiting === 0}
          onClick={() => {
            if (!confirm(`Cancel the ${waiting} task${waiting === 1 ? "" : "s"} of fan-out ${code} that have not run? Finished and running tasks stay as they are.`)) return;
            run(() => settle(cancelFanoutRestAction(code), (d) => ({ kind: "cancelled", count: d.cancelled })));
          }}
        >
          Cancel the rest ({waiting})
        </button>
      </div>
      <OutcomeMessage outcome={outcome} />
    </div>
  );
}

/** "Retry this group", under one failure group. */
export function RetryGroupButton({ code, group, count }: { code: string; group: string; count: number }) {
  const { pending, outcome, run } = useFanoutAction();
  return (
    <div className="space-y-2">
      <button type="button" className="btn btn-sm" disabled={pending} onClick={() => run(retry(code, { group }))}>
        Retry this group ({count})
      </button>
      <OutcomeMessage outcome={outcome} />
    </div>
  );
}

/** Continue, on a staged rollout whose next wave waits (for Continue, or for the end of a pause). */
export function ContinueButton({ code, label }: { code: string; label: string }) {
  const { pending, outcome, run } = useFanoutAction();
  return (
    <div className="space-y-2">
      <button type="button" className="btn btn-primary" disabled={pending} onClick={() => run(() => settle(continueFanoutAction(code), (d) => ({ kind: "continued", wave: d.wave })))}>
        {label}
      </button>
      <OutcomeMessage outcome={outcome} />
    </div>
  );
}
