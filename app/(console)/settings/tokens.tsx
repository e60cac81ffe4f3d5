"use client";

import { useActionState, useState } from "react";
import { ROLES } from "@/rules/roles";
import { createApiTokenAction, revokeApiTokenAction } from "./actions";
import { CopyButton } from "./copy-button";
import { submitTo } from "@/app/_lib/submit";

/** Creates a token and shows its secret once, until dismissed or the page is left. */
export function CreateTokenForm() {
  const [name, setName] = useState("");
  const [role, setRole] = useState("READ_ONLY");
  const [dismissed, setDismissed] = useState<string | null>(null);
  const [state, action, pending] = useActionState(async (prev: Parameters<typeof createApiTokenAction>[0], fd: FormData) => {
    const result = await createApiTokenAction(prev, fd);
    if (result.ok) setName("");
    return result;
  }, undefined);
  const created = state?.ok && state.data.secret !== dismissed ? state.data : null;
  const nameError = state && !state.ok ? state.fieldErrors?.name?.[0] : undefined;

  return (
    <div className="space-y-3">
      {created && (
        <div role="status" className="rounded-md border border-emerald-200 bg-emerald-50 p-3">
          <label htmlFor="new-token-secret" className="label text-emerald-900">
            Secret of token <span className="normal-case">{created.name}</span> ({created.role})
          </label>
          <div className="flex gap-2">
            <input id="new-token-secret" readOnly value={created.secret} className="input font-mono" onFocus={(e) => e.target.select()} />
            <CopyButton value={created.secret} target="new-token-secret" label="Copy the new token secret" />
            <button type="button" className="btn btn-sm" onClick={() => setDismissed(created.secret)}>
              Done
            </button>
          </div>
          <p className="mt-1 text-xs text-emerald-900">
            Copy it now: it won&apos;t be shown again. Send it as <span className="font-mono">Authorization: Bearer …</span>
          </p>
        </div>
      )}
      <form onSubmit={submitTo(action)} aria-label="Create API token" className="flex flex-wrap items-start gap-3">
        <div className="w-64">
          <label htmlFor="token-name" className="label">
            Token name
          </label>
          <input
            id="token-name"
            name="name"
            required
            maxLength={60}
            placeholder="ci-deploy"
            value={name}
            onChange={(e) => setName(e.target.value)}
            className="input"
            aria-invalid={nameError ? true : undefined}
          />
          {nameError && <p className="field-error">{nameError}</p>}
        </div>
        <div className="w-40">
          <label htmlFor="token-role" className="label">
            Token role
          </label>
          <select id="token-role" name="role" value={role} onChange={(e) => setRole(e.target.value)} className="input">
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </div>
        <div className="pt-5">
          <button type="submit" className="btn btn-primary" disabled={pending}>
            {pending ? "Creating…" : "Create token"}
          </button>
        </div>
      </form>
      {state && !state.ok && !nameError && (
        <p role="alert" className="text-sm text-rose-700">
          {state.message}
        </p>
      )}
    </div>
  );
}

export function RevokeToken({ id, name }: { id: string; name: string }) {
  const [state, action, pending] = useActionState(revokeApiTokenAction, undefined);
  return (
    <form action={action} className="inline-flex flex-col items-end">
      <input type="hidden" name="id" value={id} />
      <button
        className="btn btn-sm btn-danger"
        disabled={pending}
        aria-label={`Revoke token ${name}`}
        onClick={(e) => {
          if (!confirm(`Revoke the token ${name}? Anything that uses it is refused from now on.`)) e.preventDefault();
        }}
      >
        Revoke
      </button>
      {state && !state.ok && (
        <span role="alert" className="field-error">
          {state.message}
        </span>
      )}
    </form>
  );
}
