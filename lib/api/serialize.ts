import type { RolloutPolicy, WaveSize } from "@/rules/rollouts";
import type { getOrganization } from "@/lib/orgs/orgs";
import type { IssueResult } from "@/lib/tasks/issue";
import type { TaskDetail, TaskListItem } from "@/lib/tasks/queries";
import type { FanoutCockpit, FanoutSummary } from "@/lib/tasks/fanout-queries";
import type { RetryResult } from "@/lib/tasks/fanout-verbs";

// The API's output shapes: snake_case keys, times as ISO 8601 strings or null.

export const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

type ItemFields = Pick<TaskListItem, "code" | "type" | "status" | "device" | "organization" | "fanout" | "scheduledAt" | "createdAt" | "updatedAt" | "expiresAt" | "message">;

/** A task as a list shows it; the detail is this plus its own fields. */
export function taskItem(t: ItemFields) {
  return {
    code: t.code,
    type: t.type,
    status: t.status,
    device: t.device,
    organization: t.organization,
    fanout: t.fanout,
    scheduled_at: iso(t.scheduledAt),
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
    expires_at: iso(t.expiresAt),
    message: t.message,
  };
}

export function taskDetail(t: TaskDetail) {
  return {
    ...taskItem(t),
    payload: t.payload,
    started_at: iso(t.startedAt),
    finished_at: iso(t.finishedAt),
    rerun_of: t.rerunOf,
    reruns: t.reruns.map((r) => ({ code: r.code, status: r.status })),
  };
}

export function issueResult(r: IssueResult) {
  // The tasks of a fan-out share their expiry: written once, not once per task (100,000
  // toISOString calls are ~80 ms of the event loop).
  const written = new Map<number, string>();
  const expiry = (d: Date) => written.get(d.getTime()) ?? written.set(d.getTime(), d.toISOString()).get(d.getTime())!;
  return {
    fanout: r.fanout,
    total: r.total,
    tasks: r.tasks.map((t) => ({ code: t.code, device: t.device, status: t.status, expires_at: expiry(t.expiresAt) })),
  };
}

export function organizationView(o: Awaited<ReturnType<typeof getOrganization>>) {
  return {
    slug: o.slug,
    name: o.name,
    auto_approve: o.autoApprove,
    registration_token: o.registrationToken,
    retention: { task_days: o.taskRetentionDays, audit_days: o.auditRetentionDays },
  };
}

/** A fan-out as the list shows it. */
export function fanoutItem(f: FanoutSummary) {
  return {
    code: f.code,
    type: f.type,
    target: f.target,
    total: f.total,
    counts: f.counts,
    outcome: f.outcome,
    created_by: f.createdByEmail,
    created_at: iso(f.createdAt),
    finished_at: iso(f.lastFinishedAt),
    retry_of: f.target.retry?.of ?? null,
    paused_at: iso(f.pausedAt),
    pause_reason: f.pauseReason,
    rollout: f.rollout && {
      policy: rolloutPolicyItem(f.rollout.policy),
      wave_sizes: f.rollout.policy.sizes,
      wave: f.rollout.wave,
      waves: f.rollout.waves,
      state: f.rollout.state,
      wave_opened_at: iso(f.rollout.waveOpenedAt),
      wave_finished_at: iso(f.rollout.waveFinishedAt),
      next_wave_at: iso(f.rollout.nextWaveAt),
    },
  };
}

/** A rollout policy as the API takes it on POST /api/v1/tasks: what is read can be sent again. */
function rolloutPolicyItem(p: RolloutPolicy) {
  const size = (w: WaveSize) => ("count" in w ? w.count : `${w.percent}%`);
  return {
    canary: p.canary && size(p.canary),
    waves: p.waves.map(size),
    max_in_flight: p.maxInFlight,
    between_waves: p.between.kind === "minutes" ? { pause_minutes: p.between.minutes } : p.between.kind,
    breaker: p.breaker && { failed_percent: p.breaker.failedPercent, min_finished: p.breaker.minFinished },
  };
}

/** A fan-out with everything its page shows. */
export function fanoutDetail(c: FanoutCockpit) {
  return {
    ...fanoutItem(c.fanout),
    failure_groups: c.failures.groups.map((g) => ({ group: g.group, count: g.count, example: g.example, tasks: g.tasks.map((t) => ({ code: t.code, device: t.device })) })),
    more_failure_groups: c.failures.more,
    offline: {
      count: c.offline.count,
      last_seen_first: iso(c.offline.lastSeenFirst),
      last_seen_last: iso(c.offline.lastSeenLast),
      expires_first: iso(c.offline.expiresFirst),
      devices: c.offline.devices.map((d) => ({ device: d.device, last_heartbeat_at: iso(d.lastHeartbeatAt), task: d.code, expires_at: iso(d.expiresAt) })),
    },
    durations: {
      count: c.durations.count,
      p50_ms: c.durations.p50Ms,
      p95_ms: c.durations.p95Ms,
      slowest: c.durations.slowest.map((t) => ({ code: t.code, device: t.device, status: t.status, duration_ms: t.ms })),
    },
    by_ou: c.byOu.map((o) => ({ ou: o.ou, counts: o.counts })),
    // While the fan-out runs, the counts per OU may be a few seconds old: when they were counted (null: exact now).
    by_ou_as_of: iso(c.byOuAsOf),
    retries: c.retries.map((r) => ({ code: r.code, total: r.total, outcome: r.outcome })),
    // The schedule whose run issued it, with the run's due time; null for one a person or token issued.
    schedule: c.schedule && { id: c.schedule.id, name: c.schedule.name, due_at: iso(c.schedule.dueAt) },
  };
}

export function retryResult(r: RetryResult) {
  return { ...issueResult(r), retry_of: r.retryOf, skipped: r.skipped };
}
