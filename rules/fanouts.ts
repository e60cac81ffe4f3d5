// The fan-out rules: which of its finished tasks a fan-out counts on its own row, what its
// outcome is, and what can be retried. The bookkeeping triggers (rules/sql.ts), the queries
// and the pages derive from here.

import type { TaskStatus } from "./tasks";

/**
 * The final statuses a fan-out row counts (kept by the triggers on every move out of the
 * open statuses, like open_tasks): with the open count they give every final status's count
 * without reading the tasks. COMPLETED is the rest: total − open − these.
 */
export const FANOUT_COUNTED = { FAILED: "failed_tasks", EXPIRED: "expired_tasks", CANCELLED: "cancelled_tasks" } as const satisfies Partial<Record<TaskStatus, string>>;
export type FanoutCountedStatus = keyof typeof FANOUT_COUNTED;

/** How many of a fan-out's tasks are in one of `statuses`, from its counts by status. */
export const tasksIn = (counts: Readonly<Record<TaskStatus, number>>, statuses: readonly TaskStatus[]): number => statuses.reduce((n, s) => n + counts[s], 0);

export const FANOUT_OUTCOMES = ["running", "paused", "completed", "completed_with_failures", "cancelled"] as const;
export type FanoutOutcome = (typeof FANOUT_OUTCOMES)[number];

export const FANOUT_OUTCOME_LABELS: Record<FanoutOutcome, string> = {
  running: "Running",
  paused: "Paused",
  completed: "Completed",
  completed_with_failures: "Completed with failures",
  cancelled: "Cancelled",
};

export type FanoutTally = { openTasks: number; failedTasks: number; expiredTasks: number; cancelledTasks: number; pausedAt: Date | null };

/**
 * A fan-out's outcome from its row's counts. Still open: paused while an admin (or its
 * breaker) holds it, else running. Finished: completed with failures if any task failed or
 * expired (what an admin must look at, whatever else happened), else cancelled if any task was
 * cancelled (by an admin, or by its device's removal: not every device got the action), else
 * completed.
 */
export function fanoutOutcome(t: FanoutTally): FanoutOutcome {
  if (t.openTasks > 0) return t.pausedAt ? "paused" : "running";
  if (t.failedTasks + t.expiredTasks > 0) return "completed_with_failures";
  if (t.cancelledTasks > 0) return "cancelled";
  return "completed";
}

/** The statuses whose tasks a retry may take again. */
export const RETRYABLE_STATUSES = ["FAILED", "EXPIRED"] as const satisfies readonly TaskStatus[];

/** Each outcome as a condition on the fan-out row, for the list's filter: the same rule as fanoutOutcome. */
export const FANOUT_OUTCOME_WHERE: Record<FanoutOutcome, string> = {
  running: "open_tasks > 0 AND paused_at IS NULL",
  paused: "open_tasks > 0 AND paused_at IS NOT NULL",
  completed_with_failures: "open_tasks = 0 AND failed_tasks + expired_tasks > 0",
  cancelled: "open_tasks = 0 AND failed_tasks + expired_tasks = 0 AND cancelled_tasks > 0",
  completed: "open_tasks = 0 AND cancelled_tasks = 0 AND failed_tasks + expired_tasks = 0",
};

/**
 * Failure messages are grouped by their first this many characters (normalised, lib/tasks/
 * failures.ts): a message may be 64 KiB, and what tells two failures apart is in its head.
 */
export const FAILURE_PREFIX = 200;

/**
 * A paused fan-out's tasks stay in their statuses: PENDING ones are not sent to their agents
 * (on connect, by the dispatcher, or by the sweep) and a rollout's waiting ones are not
 * released until it is resumed; what an agent already holds may still run. The condition on
 * a task row that leaves it out, as SQL.
 */
export const HELD_BY_PAUSE_SQL = "EXISTS (SELECT 1 FROM fanouts WHERE fanouts.id = tasks.fanout_id AND fanouts.paused_at IS NOT NULL)";
