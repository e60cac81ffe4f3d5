"use client";

import { useActionState } from "react";
import { acceptInvitationAction, createAccountAction, type InviteState } from "./actions";

export function AcceptForm({ secret, organization }: { secret: string; organization: string }) {
  const [state, action, pending] = useActionState<InviteState, FormData>(acceptInvitationAction, undefined);
  return (
    <form action={action} className="mt-4 space-y-3">
      <input type="hidden" name="secret" value={secret} />
      {state?.message && (
        <p role="alert" className="text-sm text-rose-700">
          {state.message}
        </p>
      )}
      <button className="btn btn-primary w-full justify-center" disabled={pending}>
        {pending ? "Joining…" : `Join ${organization}`}
      </button>
    </form>
  );
}

export function NewAccountForm({ secret, email }: { secret: string; email: string }) {
  const [state, action, pending] = useActionState<InviteState, FormData>(createAccountAction, undefined);
  const error = (f: string) => state?.fieldErrors?.[f]?.[0];
  return (
    <form action={action} className="space-y-3" noValidate aria-label="Create your account">
      <input type="hidden" name="secret" value={secret} />
      <div>
        <label htmlFor="invite-email" className="label">
          Email
        </label>
        <input id="invite-email" value={email} readOnly className="input bg-slate-50" autoComplete="username" />
      </div>
      <div>
        <label htmlFor="invite-name" className="label">
          Your name
        </label>
        <input id="invite-name" name="name" autoComplete="name" required maxLength={80} defaultValue={state?.values?.name} className="input" aria-invalid={!!error("name")} />
        {error("name") && <p className="field-error">{error("name")}</p>}
      </div>
      <div>
        <label htmlFor="invite-password" className="label">
          Password (8+ characters)
        </label>
        <input id="invite-password" name="password" type="password" autoComplete="new-password" required maxLength={128} className="input" aria-invalid={!!error("password")} />
        {error("password") && <p className="field-error">{error("password")}</p>}
      </div>
      {state?.message && !error("name") && !error("password") && (
        <p role="alert" className="text-sm text-rose-700">
          {state.message}
        </p>
      )}
      <button className="btn btn-primary w-full justify-center" disabled={pending}>
        {pending ? "Creating…" : "Create account and join"}
      </button>
    </form>
  );
}
