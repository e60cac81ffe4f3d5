"use client";

import Link from "next/link";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/app/_lib/action-result";
import { deleteScheduleAction, setScheduleEnabledAction } from "../actions";

export function ScheduleActions({ id, name, enabled }: { id: number; name: string; enabled: boolean }) {
  const [pending, start] = useTransition();
  const [result, setResult] = useState<ActionResult | null>(null);
  return (
    <div className="mt-3 flex flex-wrap items-center gap-2 border-t border-slate-100 pt-3">
      <Link className="btn btn-sm" href={`/tasks/schedules/${id}/edit`}>
        Change
      </Link>
      <button type="button" className="btn btn-sm" disabled={pending} onClick={() => start(async () => setResult(await setScheduleEnabledAction(id, !enabled)))}>
        {enabled ? "Pause" : "Resume"}
      </button>
      <button
        type="button"
        className="btn btn-sm btn-danger"
        disabled={pending}
        onClick={() => {
          if (!confirm(`Delete the schedule ${name}? The fan-outs it issued stay.`)) return;
          start(async () => setResult(await deleteScheduleAction(id)));
        }}
      >
        Delete
      </button>
      {result && !result.ok && (
        <p role="alert" className="text-xs text-rose-700">
          {result.message}
        </p>
      )}
    </div>
  );
}
