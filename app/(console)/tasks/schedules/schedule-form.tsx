"use client";

import Link from "next/link";
import { useActionState, useMemo, useState, useSyncExternalStore } from "react";
import { submitTo } from "@/app/_lib/submit";
import { cronProblem, isTimeZone, nextRuns } from "@/lib/schedules/cron";
import { NEXT_RUNS_SHOWN, SCHEDULE_NAME_MAX, SCHEDULE_PRESETS, type SchedulePreset } from "@/rules/schedules";
import { createScheduleAction, updateScheduleAction } from "../actions";
import { FieldError, TargetInputs, TypeInputs } from "../issue-form";
import type { SpecFormValues } from "../spec-form";

const noChange = () => () => {};
const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

const PRESETS = Object.entries(SCHEDULE_PRESETS) as [SchedulePreset, (typeof SCHEDULE_PRESETS)[SchedulePreset]][];

/**
 * The recurrence: a preset or a cron expression, a time zone (the admin's own by default), and
 * whether a run missed while the server was down is run once on start. The next five run
 * times show as it is typed, in the admin's own time zone, before anything is saved.
 */
function RecurrenceInputs({ state, initial }: { state: Parameters<typeof FieldError>[0]["state"]; initial?: Recurrence }) {
  const [cron, setCron] = useState<string>(initial?.cron ?? SCHEDULE_PRESETS.nightly.cron);
  const [preset, setPreset] = useState<SchedulePreset | "custom">(() => PRESETS.find(([, v]) => v.cron === cron)?.[0] ?? "custom");
  // The browser's zone is known only in the browser (the server renders UTC); a new schedule's is the admin's own until changed.
  const mine = useSyncExternalStore(noChange, browserZone, () => "UTC");
  const [typed, setZone] = useState<string | null>(initial?.timezone ?? null);
  const zone = typed ?? mine;
  const problem = cronProblem(cron) ?? (isTimeZone(zone) ? null : "Unknown time zone");
  const runs = problem ? [] : nextRuns(cron, zone, new Date());
  const shown = new Intl.DateTimeFormat("en-GB", { timeZone: mine, weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  return (
    <div className="space-y-3">
      <div className="grid grid-cols-2 gap-2">
        <div>
          <label htmlFor="schedule-preset" className="label">
            Recurrence
          </label>
          <select
            id="schedule-preset"
            value={preset}
            onChange={(e) => {
              const p = e.target.value as SchedulePreset | "custom";
              setPreset(p);
              if (p !== "custom") setCron(SCHEDULE_PRESETS[p].cron);
            }}
            className="input"
          >
            {PRESETS.map(([p, v]) => (
              <option key={p} value={p}>
                {v.label}
              </option>
            ))}
            <option value="custom">Custom (cron)…</option>
          </select>
        </div>
        <div>
          <label htmlFor="schedule-cron" className="label">
            Cron expression
          </label>
          <input
            id="schedule-cron"
            name="cron"
            value={cron}
            onChange={(e) => {
              setCron(e.target.value);
              setPreset("custom");
            }}
            className="input font-mono"
            aria-describedby="schedule-cron-hint"
            aria-invalid={state && !state.ok && state.fieldErrors?.cron ? true : undefined}
          />
          <FieldError state={state} name="cron" />
        </div>
      </div>
      <p id="schedule-cron-hint" className="text-xs text-slate-500">
        Minute, hour, day of month, month, day of week; for example <code>0 2 * * *</code> is every night at 02:00.
      </p>
      <div className="grid grid-cols-2 gap-2">
        <div>
          <label htmlFor="schedule-zone" className="label">
            Time zone
          </label>
          <input id="schedule-zone" name="timezone" value={zone} onChange={(e) => setZone(e.target.value)} className="input" list="schedule-zones" autoComplete="off" />
          <datalist id="schedule-zones">
            {["UTC", mine, "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Singapore", "Australia/Sydney"]
              .filter((z, i, all) => all.indexOf(z) === i)
              .map((z) => (
                <option key={z} value={z} />
              ))}
          </datalist>
          <FieldError state={state} name="timezone" />
        </div>
        <label className="flex items-center gap-2 self-end pb-2 text-sm">
          <input type="checkbox" name="catchUp" defaultChecked={initial?.catchUp} className="size-4" /> Catch up a run missed while the server was down
        </label>
      </div>
      <section aria-labelledby="schedule-preview" className="rounded-md border border-slate-200 bg-slate-50 px-3 py-2">
        <h3 id="schedule-preview" className="text-xs font-semibold text-slate-700">
          Next {NEXT_RUNS_SHOWN} runs, in your time ({mine})
        </h3>
        {problem ? (
          <p className="text-xs text-rose-700">{problem}</p>
        ) : (
          <ol className="mt-1 list-inside list-decimal text-xs text-slate-700" aria-live="polite">
            {runs.map((r) => (
              <li key={r.getTime()}>
                <time dateTime={r.toISOString()}>{shown.format(r)}</time>
              </li>
            ))}
          </ol>
        )}
      </section>
    </div>
  );
}

type Recurrence = { cron: string; timezone: string; catchUp: boolean };

/** A saved schedule as its form shows it. */
export type ScheduleEdit = Recurrence & { id: number; name: string; spec: SpecFormValues };

/**
 * A schedule's form: its name, the task it issues (as the issue form has it) and its
 * recurrence. New, or a saved one's values to change (saving goes back to its page).
 */
export function ScheduleForm({ ous, edit }: { ous: string[]; edit?: ScheduleEdit }) {
  const editId = edit?.id;
  const save = useMemo(() => (editId === undefined ? createScheduleAction : updateScheduleAction.bind(null, editId)), [editId]);
  const [state, action, pending] = useActionState(save, undefined);
  return (
    <form onSubmit={submitTo(action)} className="grid gap-4 p-4 md:grid-cols-2" aria-label={edit ? `Change ${edit.name}` : "New schedule"}>
      <div className="space-y-4">
        <div>
          <label htmlFor="schedule-name" className="label">
            Name
          </label>
          <input id="schedule-name" name="name" required maxLength={SCHEDULE_NAME_MAX} defaultValue={edit?.name} className="input" placeholder="Nightly backup" />
          <FieldError state={state} name="name" />
        </div>
        <div>
          <TypeInputs state={state} initial={edit?.spec} />
        </div>
        <RecurrenceInputs state={state} initial={edit} />
      </div>
      <TargetInputs state={state} ous={ous} initial={edit?.spec} />
      <div className="flex items-center gap-3 md:col-span-2">
        <button type="submit" className="btn btn-primary" disabled={pending}>
          {pending ? "Saving…" : edit ? "Save changes" : "Save schedule"}
        </button>
        {edit && (
          <Link className="btn" href={`/tasks/schedules/${edit.id}`}>
            Cancel
          </Link>
        )}
        {state?.ok && (
          <p role="status" className="text-sm text-emerald-700">
            Saved ·{" "}
            <Link className="font-medium underline" href={`/tasks/schedules/${state.data.id}`}>
              open {state.data.name}
            </Link>
          </p>
        )}
        {state && !state.ok && (
          <p role="alert" className="text-sm text-rose-700">
            {state.message}
          </p>
        )}
      </div>
    </form>
  );
}
