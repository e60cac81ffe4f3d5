"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { cancelTaskAction, rerunTaskAction } from "../actions";
import { useOwnAction } from "./task-live";

/** Refresh re-fetches the server component in place; Cancel and Re-run call server actions. */
export function TaskActions({ code, canCancel, canRerun, readOnly }: { code: string; canCancel: boolean; canRerun: boolean; readOnly: boolean }) {
  const router = useRouter();
  const [pending, start] = useTransition();
  useOwnAction(pending);
  const [error, setError] = useState<string | null>(null);
  const [refreshedAt, setRefreshedAt] = useState<string | null>(null);

  const run = (fn: () => Promise<{ ok: boolean; message?: string } | undefined>) =>
    start(async () => {
      setError(null);
      const r = await fn();
      // A done action re-rendered the page in its own answer (revalidatePath, or Re-run's
      // redirect); only a refused one leaves the page to be read again.
      if (r && !r.ok) {
        setError(r.message ?? "The action failed");
        router.refresh();
      }
    });

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap gap-2">
        <button
          type="button"
          className="btn"
          disabled={pending}
          onClick={() =>
            start(() => {
              router.refresh();
              setRefreshedAt(new Date().toLocaleTimeString());
            })
          }
        >
          <span aria-hidden>↻</span> Refresh
        </button>
        {canCancel && (
          <button
            type="button"
            className="btn btn-danger"
            disabled={pending}
            onClick={() => {
              if (confirm(`Cancel task ${code}? The device will not run it.`)) run(() => cancelTaskAction(code));
            }}
          >
            Cancel
          </button>
        )}
        {canRerun && (
          <button type="button" className="btn btn-primary" disabled={pending} onClick={() => run(() => rerunTaskAction(code))}>
            Re-run
          </button>
        )}
      </div>
      {error && (
        <p role="alert" className="text-sm text-rose-700">
          {error}
        </p>
      )}
      {refreshedAt && !pending && <p className="text-xs text-slate-500">Refreshed at {refreshedAt}</p>}
      {readOnly && <p className="text-xs text-slate-500">Your role is read-only: you can look, not change.</p>}
      {!readOnly && !canCancel && !canRerun && <p className="text-xs text-slate-500">A running task can be neither cancelled nor re-run until it finishes.</p>}
      {!readOnly && canRerun && <p className="text-xs text-slate-500">A finished task is immutable; Re-run issues a fresh task linked to this one.</p>}
    </div>
  );
}
