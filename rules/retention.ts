// How long history is kept. Per organization (Settings, ADMIN): finished tasks N days, or
// forever; the audit trail its own N days, two years unless said otherwise. The instance may
// cap the tasks' days from the environment (TASKWIRE_RETENTION_MAX_DAYS). The purge
// (lib/tasks/purge.ts) is the one way a task or an audit row leaves the database.

export const RETENTION_DAYS = { min: 1, max: 36_500 } as const;
export const TASK_RETENTION_DEFAULT_DAYS = 180;
export const AUDIT_RETENTION_DEFAULT_DAYS = 730;

/** Tasks deleted per transaction of the purge: small, so a batch holds the writer a few milliseconds. */
export const PURGE_TASKS_PER_BATCH = 500;
/** Audit rows deleted per transaction of the purge. */
export const PURGE_AUDIT_PER_BATCH = 1_000;
/** Schedule runs deleted per transaction of the purge. */
export const PURGE_RUNS_PER_BATCH = 1_000;

/**
 * The days an organization's finished tasks are kept: its own setting (null: forever) under
 * the instance's ceiling (null: none). Null means they are kept forever.
 */
export function effectiveTaskDays(orgDays: number | null, ceilingDays: number | null): number | null {
  if (orgDays === null) return ceilingDays;
  return ceilingDays === null ? orgDays : Math.min(orgDays, ceilingDays);
}

/** The moment before which what finished is purged, for `days` kept (null: nothing is). */
export function cutoffOf(days: number | null, now: Date): Date | null {
  return days === null ? null : new Date(now.getTime() - days * 86_400_000);
}

/** "Finished tasks are kept 180 days" as a page says it. */
export function retentionLine(days: number | null): string {
  return days === null ? "Finished tasks are kept forever" : `Finished tasks are kept ${days} day${days === 1 ? "" : "s"}`;
}
