"use client";

import Link from "next/link";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/app/_lib/action-result";
import { syncAllAction, type IssuedFanout } from "./actions";

/** One SYNC to every ENABLED device of the organization, after a confirmation. */
export function SyncAll({ enabled, organization }: { enabled: number; organization: string }) {
  const [pending, start] = useTransition();
  const [result, setResult] = useState<ActionResult<IssuedFanout> | null>(null);

  return (
    <div className="flex flex-col items-end gap-1">
      <button
        type="button"
        className="btn btn-primary"
        disabled={pending || enabled === 0}
        title={enabled === 0 ? "No device is ENABLED" : undefined}
        onClick={() => {
          if (!confirm(`Sync all ${enabled} enabled devices of ${organization}? Each gets a SYNC task now.`)) return;
          start(async () => setResult(await syncAllAction()));
        }}
      >
        {pending ? "Syncing…" : "Sync all"}
      </button>
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
