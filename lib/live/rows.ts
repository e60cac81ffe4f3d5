import { waveLine, waveOf } from "../../rules/rollouts";
import type { FanoutSummary } from "../tasks/fanout-queries";
import type { LiveTask } from "../tasks/queries";
import type { LiveFanout, LiveTaskRow } from "./protocol";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A task as the browser holds it, both in the first render and in live patches. */
export function toLiveRow(t: LiveTask): LiveTaskRow {
  return {
    id: t.id,
    code: t.code,
    type: t.type,
    status: t.status,
    device: t.device,
    organization: t.organization,
    fanout: t.fanout,
    message: t.message,
    scheduledAt: iso(t.scheduledAt),
    wave: t.wave !== null && t.waves !== null ? waveOf(t.wave, t.waves) : null,
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
    expiresAt: t.expiresAt.toISOString(),
    startedAt: iso(t.startedAt),
    finishedAt: iso(t.finishedAt),
  };
}

/** Whether a row belongs in a list with these filters (the SQL rules: LIKE is ASCII case-insensitive). */
export function matchesFilter(row: LiveTaskRow, f: { device?: string; type?: string; status?: string; fanout?: string }): boolean {
  if (f.type && row.type !== f.type) return false;
  if (f.status && row.status !== f.status) return false;
  if (f.fanout && row.fanout !== f.fanout) return false;
  if (f.device && !row.device.toLowerCase().includes(f.device.toLowerCase())) return false;
  return true;
}

export function toLiveFanout(f: FanoutSummary): LiveFanout {
  return {
    code: f.code,
    type: f.type,
    total: f.total,
    createdAt: f.createdAt.toISOString(),
    lastFinishedAt: iso(f.lastFinishedAt),
    counts: f.counts,
    outcome: f.outcome,
    pauseReason: f.pauseReason,
    wave: f.rollout && waveLine(f.rollout),
  };
}
