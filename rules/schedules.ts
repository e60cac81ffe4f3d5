// Recurring schedules: a task spec issued as a fan-out at each time a cron expression names,
// in the schedule's time zone. The presets, outcomes and bounds; reading an expression (with
// croner) is lib/schedules/cron.ts, for the server and the form's preview alike.

export const SCHEDULE_PRESETS = {
  hourly: { label: "Every hour, on the hour", cron: "0 * * * *" },
  nightly: { label: "Nightly at 02:00", cron: "0 2 * * *" },
  weekly: { label: "Weekly, Sunday at 02:00", cron: "0 2 * * 0" },
} as const;
export type SchedulePreset = keyof typeof SCHEDULE_PRESETS;

/** What became of a due time: a fan-out issued, nothing to do (with why), or an error (with what). */
export const SCHEDULE_RUN_OUTCOMES = ["issued", "skipped", "failed"] as const;
export type ScheduleRunOutcome = (typeof SCHEDULE_RUN_OUTCOMES)[number];

export const SCHEDULE_NAME_MAX = 80;
/** Run times the form and the page show ahead. */
export const NEXT_RUNS_SHOWN = 5;
/**
 * A due time the clock first sees later than this was missed (the server was down): it is run
 * once, or recorded as skipped, as the schedule's "catch up" says.
 */
export const MISSED_AFTER_MS = 120_000;

export const presetOf = (cron: string): SchedulePreset | null =>
  (Object.entries(SCHEDULE_PRESETS).find(([, p]) => p.cron === cron.trim())?.[0] as SchedulePreset | undefined) ?? null;

/** A recurrence in words: its preset's name, or the expression; with its zone. */
export function recurrenceLine(s: { cron: string; timezone: string }): string {
  const preset = presetOf(s.cron);
  return `${preset ? SCHEDULE_PRESETS[preset].label : s.cron} (${s.timezone})`;
}
