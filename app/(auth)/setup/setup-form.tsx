"use client";

import { useActionState } from "react";
import { setupAction, type SetupState } from "./actions";

const FIELDS = [
  { name: "orgName", label: "Organization name", type: "text", autoComplete: "organization" },
  { name: "orgSlug", label: "Organization slug", type: "text", autoComplete: "off" },
  { name: "name", label: "Your name", type: "text", autoComplete: "name" },
  { name: "email", label: "Email", type: "email", autoComplete: "username" },
  { name: "password", label: "Password (8+ characters)", type: "password", autoComplete: "new-password" },
] as const;

export function SetupForm() {
  const [state, action, pending] = useActionState<SetupState, FormData>(setupAction, undefined);
  return (
    <form action={action} className="space-y-3" noValidate>
      {FIELDS.map((f) => (
        <div key={f.name}>
          <label htmlFor={f.name} className="label">
            {f.label}
          </label>
          <input
            id={f.name}
            name={f.name}
            type={f.type}
            autoComplete={f.autoComplete}
            defaultValue={f.type === "password" ? undefined : state?.values?.[f.name]}
            className="input"
            aria-invalid={!!state?.fieldErrors?.[f.name]}
            aria-describedby={state?.fieldErrors?.[f.name] ? `${f.name}-error` : undefined}
          />
          {state?.fieldErrors?.[f.name] && (
            <p id={`${f.name}-error`} className="field-error">
              {state.fieldErrors[f.name][0]}
            </p>
          )}
        </div>
      ))}
      {state?.message && (
        <p role="alert" className="text-sm text-rose-700">
          {state.message}
        </p>
      )}
      <button className="btn btn-primary w-full justify-center" disabled={pending}>
        {pending ? "Creating…" : "Create admin and organization"}
      </button>
    </form>
  );
}
