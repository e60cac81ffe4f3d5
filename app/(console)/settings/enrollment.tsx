"use client";

import { useActionState, useState, useTransition } from "react";
import type { ActionResult } from "@/app/_lib/action-result";
import { rotateRegistrationTokenAction, setAutoApproveAction } from "./actions";
import { CopyButton } from "./copy-button";
import { submitTo } from "@/app/_lib/submit";

export function RegistrationToken({ token }: { token: string }) {
  const [pending, start] = useTransition();
  const [result, setResult] = useState<ActionResult | null>(null);
  return (
    <div>
      <label htmlFor="registration-token" className="label">
        Registration token
      </label>
      <div className="flex gap-2">
        <input id="registration-token" readOnly value={token} className="input font-mono" onFocus={(e) => e.target.select()} />
        <CopyButton value={token} target="registration-token" label="Copy the enrollment token" />
        <button
          type="button"
          className="btn btn-sm btn-danger"
          disabled={pending}
          onClick={() => {
            if (!confirm("Rotate the registration token? Agents must enroll with the new one from now on; devices already enrolled keep working.")) return;
            start(async () => setResult(await rotateRegistrationTokenAction()));
          }}
        >
          {pending ? "Rotating…" : "Rotate"}
        </button>
      </div>
      <p className="mt-1 text-xs text-slate-500">An agent enrolls with this token once and gets a secret token of its own.</p>
      {result?.ok && !pending && (
        <p role="status" className="mt-1 text-xs text-emerald-700">
          Rotated: the old token no longer enrolls devices.
        </p>
      )}
      {result && !result.ok && (
        <p role="alert" className="field-error">
          {result.message}
        </p>
      )}
    </div>
  );
}

export function AutoApproveForm({ value }: { value: boolean }) {
  const [state, action, pending] = useActionState(setAutoApproveAction, undefined);
  const [checked, setChecked] = useState(value);
  return (
    <form onSubmit={submitTo(action)} className="space-y-2">
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" name="autoApprove" checked={checked} onChange={(e) => setChecked(e.target.checked)} className="size-4" />
        Auto-approve new devices
      </label>
      <p className="text-xs text-slate-500">
        When on, a device that enrolls is ENABLED at once; when off, it waits as PENDING until someone approves it on the Devices page.
      </p>
      <div className="flex items-center gap-3">
        <button type="submit" className="btn btn-sm" disabled={pending || checked === value}>
          {pending ? "Saving…" : "Save"}
        </button>
        {state?.ok && checked === value && (
          <p role="status" className="text-xs text-emerald-700">
            Saved: auto-approve is {state.data ? "on" : "off"}.
          </p>
        )}
        {state && !state.ok && (
          <p role="alert" className="text-xs text-rose-700">
            {state.message}
          </p>
        )}
      </div>
    </form>
  );
}
