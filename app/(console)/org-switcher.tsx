"use client";

import { useRef } from "react";
import { switchOrganization } from "./actions";

export function OrgSwitcher({ current, memberships }: { current: string; memberships: { id: string; name: string; role: string }[] }) {
  const form = useRef<HTMLFormElement>(null);
  return (
    <form ref={form} action={switchOrganization} className="flex min-w-0 items-center gap-2">
      <label htmlFor="org-switcher" className="sr-only">
        Organization
      </label>
      <select
        id="org-switcher"
        name="organizationId"
        defaultValue={current}
        onChange={() => form.current?.requestSubmit()}
        className="max-w-64 min-w-0 truncate rounded-md border border-slate-600 bg-slate-800 py-1 pr-7 pl-2 text-sm text-white"
      >
        {memberships.map((m) => (
          <option key={m.id} value={m.id}>
            {m.name} ({m.role})
          </option>
        ))}
      </select>
      <noscript>
        <button className="btn btn-sm">Switch</button>
      </noscript>
    </form>
  );
}
