"use client";

import { useActionState, useId, useState } from "react";
import { RelativeTime } from "@/app/_components/relative-time";
import type { ActionResult } from "@/app/_lib/action-result";
import { ROLES } from "@/lib/auth/roles";
import { addMemberAction, removeMemberAction, setMemberRoleAction, type AddedMember } from "./actions";
import { submitTo } from "@/app/_lib/submit";

export type MemberView = { id: string; email: string; name: string; role: string; createdAt: Date; you: boolean };

type Outcome = { intent: "role" | "remove"; result: ActionResult } | undefined;

async function dispatch(_prev: Outcome, fd: FormData): Promise<Outcome> {
  const intent = fd.get("intent") === "remove" ? "remove" : "role";
  return { intent, result: await (intent === "remove" ? removeMemberAction : setMemberRoleAction)(undefined, fd) };
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
        <form onSubmit={submitTo(action)}>
          <input type="hidden" name="memberId" value={member.id} />
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

const needsAccount = (r: ActionResult<AddedMember> | undefined) => !!r && !r.ok && !!r.fieldErrors?.account;
const FIELDS = ["email", "role", "name", "password"];

/** Adds a user by email; an unknown email also asks for a name and an initial password. */
export function AddMemberForm() {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("READ_ONLY");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [askAccount, setAskAccount] = useState(false);
  const [state, action, pending] = useActionState(async (prev: ActionResult<AddedMember> | undefined, fd: FormData) => {
    const result = await addMemberAction(prev, fd);
    if (needsAccount(result)) setAskAccount(true);
    if (result.ok) {
      setEmail("");
      setName("");
      setPassword("");
      setAskAccount(false);
    }
    return result;
  }, undefined);
  const ids = useId();
  const error = (field: string) => (state && !state.ok ? state.fieldErrors?.[field]?.[0] : undefined);
  const field = (key: string, label: string, input: React.ReactNode, className: string) => (
    <div className={className}>
      <label htmlFor={`${ids}-${key}`} className="label">
        {label}
      </label>
      {input}
      {error(key) && (
        <p id={`${ids}-${key}-error`} className="field-error">
          {error(key)}
        </p>
      )}
    </div>
  );
  const common = (key: string) => ({
    id: `${ids}-${key}`,
    name: key,
    className: "input",
    "aria-invalid": error(key) ? true : undefined,
    "aria-describedby": error(key) ? `${ids}-${key}-error` : undefined,
  });

  return (
    <form onSubmit={submitTo(action)} aria-label="Add member" className="space-y-3">
      <div className="flex flex-wrap items-start gap-3">
        {field("email", "Email", <input {...common("email")} type="email" required maxLength={254} value={email} onChange={(e) => setEmail(e.target.value)} />, "w-72")}
        {field(
          "role",
          "Role",
          <select {...common("role")} value={role} onChange={(e) => setRole(e.target.value)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>,
          "w-40",
        )}
        {askAccount && (
          <>
            {field("name", "Name", <input {...common("name")} required maxLength={80} value={name} onChange={(e) => setName(e.target.value)} />, "w-56")}
            {field(
              "password",
              "Initial password",
              <input {...common("password")} type="password" required maxLength={128} autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />,
              "w-56",
            )}
          </>
        )}
        <div className="pt-5">
          <button type="submit" className="btn btn-primary" disabled={pending}>
            {pending ? "Adding…" : askAccount ? "Create user and add" : "Add member"}
          </button>
        </div>
      </div>
      {needsAccount(state) ? (
        <p role="status" className="text-sm text-amber-800">
          {state && !state.ok && state.message}.
        </p>
      ) : (
        askAccount && <p className="text-xs text-slate-500">No account uses this email yet: it is created with this name and password, to share with them.</p>
      )}
      {state?.ok && (
        <p role="status" className="text-sm text-emerald-700">
          Added {state.data.email} as {state.data.role}
          {state.data.created && " (new account)"}.
        </p>
      )}
      {state && !state.ok && !needsAccount(state) && !FIELDS.some((f) => state.fieldErrors?.[f]) && (
        <p role="alert" className="text-sm text-rose-700">
          {state.message}
        </p>
      )}
    </form>
  );
}
