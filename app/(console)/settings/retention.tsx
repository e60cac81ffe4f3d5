"use client";

import { useActionState, useId, useState } from "react";
import { submitTo } from "@/app/_lib/submit";
import { setRetentionAction } from "./actions";

/** How long this organization keeps finished tasks (or forever) and its audit trail. */
export function RetentionForm({ taskDays, auditDays, ceilingDays }: { taskDays: number | null; auditDays: number; ceilingDays: number | null }) {
  const [state, action, pending] = useActionState(setRetentionAction, undefined);
  const [forever, setForever] = useState(taskDays === null);
  const ids = useId();
  const error = (field: string) => (state && !state.ok ? state.fieldErrors?.[field]?.[0] : undefined);
  const field = (name: "task_days" | "audit_days", label: string, value: number | null, disabled = false) => (
    <div className="w-44">
      <label htmlFor={`${ids}-${name}`} className="label">
        {label}
      </label>
      <input
        id={`${ids}-${name}`}
        name={name}
        type="number"
        inputMode="numeric"
        min={1}
        step={1}
        required={!disabled}
        disabled={disabled}
        defaultValue={value ?? 180}
        className="input"
        aria-invalid={error(name) ? true : undefined}
        aria-describedby={error(name) ? `${ids}-${name}-error` : undefined}
      />
      {error(name) && (
        <p id={`${ids}-${name}-error`} className="field-error">
          {error(name)}
        </p>
      )}
    </div>
  );
  return (
    <form onSubmit={submitTo(action)} aria-label="History retention" className="space-y-3">
      <div className="flex flex-wrap items-end gap-4">
        {field("task_days", "Keep finished tasks (days)", taskDays, forever)}
        <label className="flex items-center gap-2 pb-2 text-sm">
          <input type="checkbox" name="task_forever" checked={forever} onChange={(e) => setForever(e.target.checked)} className="size-4" />
          Keep forever
        </label>
        {field("audit_days", "Keep the audit trail (days)", auditDays)}
      </div>
      <p className="text-xs text-slate-500">
        Older finished tasks, with their fan-outs once all their tasks are gone and the runs of schedules from that time (the latest run of each schedule stays), are deleted in the background; open tasks are never deleted.
        {ceilingDays !== null && ` This instance keeps finished tasks at most ${ceilingDays} days, whatever is set here.`}
      </p>
      <div className="flex items-center gap-3">
        <button type="submit" className="btn btn-sm" disabled={pending}>
          {pending ? "Saving…" : "Save"}
        </button>
        {state?.ok && (
          <p role="status" className="text-xs text-emerald-700">
            Saved.
          </p>
        )}
        {state && !state.ok && !state.fieldErrors && (
          <p role="alert" className="text-xs text-rose-700">
            {state.message}
          </p>
        )}
      </div>
    </form>
  );
}
