import type { Schedule } from "@/db/schema";
import { getSchedule, setScheduleEnabled, type ScheduleDetail } from "@/lib/schedules/schedules";
import { apiRoute } from "./http";
import { iso } from "./serialize";

/** A schedule as the JSON API shows it (snake_case, the spec as it was given). */
export function scheduleView(s: Schedule & { owner?: string | null }) {
  return {
    id: s.id,
    name: s.name,
    type: s.type,
    payload: s.spec.payload ?? null,
    targets: s.spec.targets,
    ttl_seconds: s.spec.ttl_seconds ?? null,
    rollout: s.spec.rollout ?? null,
    cron: s.cron,
    timezone: s.timezone,
    catch_up: s.catchUp,
    enabled: s.enabled,
    owner: s.owner ?? null,
    next_run_at: iso(s.nextRunAt),
    last_run_at: iso(s.lastRunAt),
    created_at: iso(s.createdAt),
    updated_at: iso(s.updatedAt),
  };
}

/** A schedule with its next run times and its recent runs, newest first. */
export function scheduleDetailView(s: ScheduleDetail) {
  return {
    ...scheduleView(s),
    next_runs: s.nextRuns.map((d) => d.toISOString()),
    runs: s.runs.map((r) => ({ due_at: iso(r.dueAt), ran_at: iso(r.ranAt), outcome: r.outcome, reason: r.reason, fanout: r.fanout })),
  };
}

/** PUT /api/v1/schedules/{id}/pause or …/resume: the schedule as it now is. */
export function scheduleStateRoute(enabled: boolean) {
  return apiRoute<{ id: string }>(async ({ db, actor, params }) => {
    await setScheduleEnabled({ db, actor }, params.id, enabled);
    return scheduleDetailView(await getSchedule({ db, actor }, params.id));
  });
}
