"use client";

import Link from "next/link";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/app/_lib/action-result";
import { policySummary, ROLLOUT_PRESET_LABELS, ROLLOUT_PRESET_POLICIES, ROLLOUT_PRESETS, type RolloutPreset } from "@/rules/rollouts";
import { syncAllAction, type IssuedFanout } from "./actions";

/** One SYNC to every ENABLED device of the organization, after a confirmation. */
export function SyncAll({ enabled, organization }: { enabled: number; organization: string }) {
  const [pending, start] = useTransition();
  const [result, setResult] = useState<ActionResult<IssuedFanout> | null>(null);
  const [rollout, setRollout] = useState<RolloutPreset>("all-at-once");

  return (
    <div className="flex w-full flex-col items-end gap-1 sm:w-auto">
      <div className="flex w-full flex-wrap items-center justify-end gap-2 sm:w-auto">
        <label className="sr-only" htmlFor="sync-all-rollout">
          Rollout of Sync all
        </label>
        <select id="sync-all-rollout" className="input w-full sm:w-auto" value={rollout} onChange={(e) => setRollout(e.target.value as RolloutPreset)}>
          {ROLLOUT_PRESETS.map((p) => (
            <option key={p} value={p}>
              {ROLLOUT_PRESET_LABELS[p]}
            </option>
          ))}
        </select>
        <button
          type="button"
          className="btn btn-primary"
          disabled={pending || enabled === 0}
          title={enabled === 0 ? "No device is ENABLED" : undefined}
          onClick={() => {
            const how = rollout === "all-at-once" ? "Each gets a SYNC task now." : `They get their SYNC tasks in waves: ${policySummary(ROLLOUT_PRESET_POLICIES[rollout]!)}.`;
            if (!confirm(`Sync all ${enabled} enabled devices of ${organization}? ${how}`)) return;
            start(async () => setResult(await syncAllAction(rollout)));
          }}
        >
          {pending ? "Syncing…" : "Sync all"}
        </button>
      </div>
      {result?.ok && (
        <p role="status" className="text-sm text-emerald-700">
          Issued {result.data.total} SYNC task{result.data.total === 1 ? "" : "s"} ·{" "}
          <Link className="font-medium underline" href={`/tasks/fanouts/${result.data.fanout}`}>
            watch fan-out {result.data.fanout}
          </Link>
        </p>
      )}
      {result && !result.ok && (
        <p role="alert" className="text-sm text-rose-700">
          {result.message}
        </p>
      )}
    </div>
  );
}
