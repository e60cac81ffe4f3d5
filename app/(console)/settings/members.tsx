"use client";

import { useActionState, useId, useState } from "react";
import { RelativeTime } from "@/app/_components/relative-time";
import type { ActionResult } from "@/app/_lib/action-result";
import { ROLES } from "@/rules/roles";
import { endMemberSessionsAction, inviteMemberAction, removeMemberAction, revokeInvitationAction, setMemberRoleAction, type Invited } from "./actions";
import { CopyButton } from "./copy-button";
import { submitTo } from "@/app/_lib/submit";

export type MemberView = { id: string; email: string; name: string; role: string; createdAt: Date; you: boolean };

type Intent = "role" | "remove" | "sign-out";
type Outcome = { intent: Intent; result: { ok: boolean; message?: string } } | undefined;

const INTENTS = { role: setMemberRoleAction, remove: removeMemberAction, "sign-out": endMemberSessionsAction } as const;

async function dispatch(_prev: Outcome, fd: FormData): Promise<Outcome> {
  const raw = fd.get("intent");
  const intent: Intent = raw === "remove" || raw === "sign-out" ? raw : "role";
  return { intent, result: await INTENTS[intent](undefined, fd) };
}

/** A member with the ADMIN's controls: change the role, or remove them. */
export function MemberRow({ member, organization }: { member: MemberView; organization: string }) {
  const [outcome, action, pending] = useActionState(dispatch, undefined);
  const [role, setRole] = useState(member.role);
  const selectId = useId();
  const failed = outcome && !outcome.result.ok ? outcome.result.message : null;
  return (
    <tr data-member={member.email}>
      <th scope="row" className="px-4 py-2 text-left font-medium">
        {member.email} {member.you && <span className="ml-1 rounded bg-slate-100 px-1.5 py-0.5 text-xs font-normal text-slate-600">you</span>}
      </th>
      <td className="px-4 py-2">{member.name}</td>
      <td className="px-4 py-2">
        <form onSubmit={submitTo(action)} className="flex items-center gap-2">
          <input type="hidden" name="memberId" value={member.id} />
          <label htmlFor={selectId} className="sr-only">
            Role for {member.email}
          </label>
          <select id={selectId} name="role" value={role} onChange={(e) => setRole(e.target.value)} className="input w-36 py-1">
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
          <button name="intent" value="role" className="btn btn-sm" disabled={pending || role === member.role} aria-label={`Save role of ${member.email}`}>
            Save
          </button>
        </form>
        {failed && (
          <p role="alert" className="field-error">
            {failed}
          </p>
        )}
      </td>
      <td className="px-4 py-2 whitespace-nowrap">
        <RelativeTime value={member.createdAt} />
      </td>
      <td className="px-4 py-2 text-right">
        <form onSubmit={submitTo(action)} className="flex justify-end gap-2">
          <input type="hidden" name="memberId" value={member.id} />
          <button
            name="intent"
            value="sign-out"
            className="btn btn-sm"
            disabled={pending}
            aria-label={`Sign ${member.email} out everywhere`}
            onClick={(e) => {
              if (!confirm(`Sign ${member.email} out of every browser now? They can sign in again; remove them to keep them out.`)) e.preventDefault();
            }}
          >
            Sign out
          </button>
          <button
            name="intent"
            value="remove"
            className="btn btn-sm btn-danger"
            disabled={pending}
            aria-label={`Remove ${member.email}`}
            onClick={(e) => {
              const warning = member.you
                ? `Remove yourself from ${organization}? You lose access to it at once.`
                : `Remove ${member.email} from ${organization}? They lose access at once, and their API tokens for it are revoked.`;
              if (!confirm(warning)) e.preventDefault();
            }}
          >
            Remove
          </button>
        </form>
      </td>
    </tr>
  );
}

/** Invites a person by email; shows the link to hand over, once. */
export function InviteMemberForm() {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("READ_ONLY");
  const [state, action, pending] = useActionState(async (prev: ActionResult<Invited> | undefined, fd: FormData) => {
    const result = await inviteMemberAction(prev, fd);
    if (result.ok) setEmail("");
    return result;
  }, undefined);
  const ids = useId();
  const error = (field: string) => (state && !state.ok ? state.fieldErrors?.[field]?.[0] : undefined);
  // Only a submitted form has a link, and only the browser submits: window is there.
  const link = state?.ok ? new URL(`/invite/${state.data.secret}`, window.location.href).toString() : null;

  return (
    <div className="space-y-3">
      <form onSubmit={submitTo(action)} aria-label="Invite member" className="flex flex-wrap items-start gap-3">
        <div className="w-72">
          <label htmlFor={`${ids}-email`} className="label">
            Email
          </label>
          <input
            id={`${ids}-email`}
            name="email"
            type="email"
            required
            maxLength={254}
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            className="input"
            aria-invalid={error("email") ? true : undefined}
            aria-describedby={error("email") ? `${ids}-email-error` : undefined}
          />
          {error("email") && (
            <p id={`${ids}-email-error`} className="field-error">
              {error("email")}
            </p>
          )}
        </div>
        <div className="w-40">
          <label htmlFor={`${ids}-role`} className="label">
            Role
          </label>
          <select id={`${ids}-role`} name="role" value={role} onChange={(e) => setRole(e.target.value)} className="input">
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </div>
        <div className="pt-5">
          <button type="submit" className="btn btn-primary" disabled={pending}>
            {pending ? "Inviting…" : "Invite"}
          </button>
        </div>
      </form>
      {link && state?.ok && (
        <div role="status" className="rounded-md border border-emerald-200 bg-emerald-50 p-3">
          <label htmlFor={`${ids}-link`} className="label text-emerald-900">
            Invitation link for <span className="normal-case">{state.data.email}</span> ({state.data.role})
          </label>
          <div className="flex gap-2">
            <input id={`${ids}-link`} readOnly value={link} className="input font-mono text-xs" onFocus={(e) => e.target.select()} />
            <CopyButton value={link} target={`${ids}-link`} label="Copy the invitation link" />
          </div>
          <p className="mt-1 text-xs text-emerald-900">
            Send it to them yourself: it works once, for that email only, until <RelativeTime value={new Date(state.data.expiresAt)} />. They sign in with
            that email, or create their account from the link, and then accept.
          </p>
        </div>
      )}
      {state && !state.ok && !error("email") && (
        <p role="alert" className="text-sm text-rose-700">
          {state.message}
        </p>
      )}
    </div>
  );
}

/** A pending invitation, with Revoke. */
export function InvitationRow({ invitation }: { invitation: { id: string; email: string; role: string; invitedBy: string | null; expiresAt: Date } }) {
  const [state, action, pending] = useActionState(revokeInvitationAction, undefined);
  return (
    <tr data-invitation={invitation.email}>
      <th scope="row" className="px-4 py-2 text-left font-medium">
        {invitation.email}
      </th>
      <td className="px-4 py-2">{invitation.role}</td>
      <td className="px-4 py-2">{invitation.invitedBy ?? "—"}</td>
      <td className="px-4 py-2 whitespace-nowrap">
        <RelativeTime value={invitation.expiresAt} />
      </td>
      <td className="px-4 py-2 text-right">
        <form onSubmit={submitTo(action)}>
          <input type="hidden" name="id" value={invitation.id} />
          <button className="btn btn-sm btn-danger" disabled={pending} aria-label={`Revoke the invitation of ${invitation.email}`}>
            Revoke
          </button>
        </form>
        {state && !state.ok && (
          <p role="alert" className="field-error">
            {state.message}
          </p>
        )}
      </td>
    </tr>
  );
}
