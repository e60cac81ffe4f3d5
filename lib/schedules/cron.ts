import { Cron } from "croner";
import { NEXT_RUNS_SHOWN } from "../../rules/schedules";

// Reading a schedule's recurrence, with croner: the checks of an expression and a zone, and
// its run times. Plain functions with no server part, so the form's preview in the browser
// and the clock on the server compute the same times.

/** The timezone names this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * What is wrong with an expression, or null. Five fields (minute hour day month weekday) or a
 * nickname (@hourly, @daily, @weekly…): no seconds field, so nothing fires more often than
 * once a minute.
 */
export function cronProblem(expr: string): string | null {
  const text = expr.trim();
  if (!text) return "A recurrence is required";
  if (!text.startsWith("@") && text.split(/\s+/).length !== 5) {
    return "Write five fields: minute hour day-of-month month day-of-week (no seconds: a schedule fires at most once a minute)";
  }
  let cron: Cron;
  try {
    cron = new Cron(text, { paused: true });
  } catch (e) {
    return `Not a cron expression: ${(e as Error).message.replace(/^CronPattern: /, "")}`;
  }
  // A date no calendar has (30 February, 31 April) parses but never comes: such a schedule
  // would sit enabled with no next run. croner looks years ahead before it gives up (~40 ms).
  return cron.nextRun() ? null : "This recurrence never fires: no date matches its day and month (30 February, 31 April…)";
}

/**
 * The next `n` run times after `from`, in the zone's wall clock. A wall-clock time the
 * daylight-saving change skips runs at the first moment after the gap; one it repeats runs
 * once: a nightly run neither doubles nor drops.
 */
export function nextRuns(expr: string, timeZone: string, from: Date, n = NEXT_RUNS_SHOWN): Date[] {
  return new Cron(expr.trim(), { paused: true, timezone: timeZone }).nextRuns(n, from);
}

/** The latest run time at or before `at`. */
export function latestRun(expr: string, timeZone: string, at: Date): Date | null {
  return new Cron(expr.trim(), { paused: true, timezone: timeZone }).previousRuns(1, new Date(at.getTime() + 1000))[0] ?? null;
}

export const nextRun = (expr: string, timeZone: string, from: Date): Date | null => nextRuns(expr, timeZone, from, 1)[0] ?? null;

