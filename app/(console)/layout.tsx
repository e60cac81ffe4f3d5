import Link from "next/link";
import { requirePageContext } from "@/app/_lib/context";
import { signOut } from "./actions";
import { NavLink } from "./nav-link";
import { OrgSwitcher } from "./org-switcher";

export default async function ConsoleLayout({ children }: { children: React.ReactNode }) {
  const ctx = await requirePageContext();
  return (
    <div className="min-h-screen">
      <header className="bg-slate-900 text-white">
        {/* One row on a wide screen; on a narrow one the account controls wrap onto a row of their own, never off the screen. */}
        <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-2.5">
          <Link href="/tasks" className="flex items-center gap-2 rounded-md font-semibold tracking-tight">
            <span aria-hidden className="grid size-7 place-items-center rounded-md bg-sky-600 text-sm">
              T
            </span>
            Taskwire
          </Link>
          <nav aria-label="Main" className="flex gap-1">
            <NavLink href="/tasks">Tasks</NavLink>
            <NavLink href="/devices">Devices</NavLink>
            <NavLink href="/settings">Settings</NavLink>
          </nav>
          <div className="flex w-full min-w-0 items-center justify-between gap-4 md:ml-auto md:w-auto md:justify-end">
            <OrgSwitcher current={ctx.actor.organizationId} memberships={ctx.memberships} />
            <span className="hidden text-sm text-slate-300 lg:inline" title={`Role: ${ctx.actor.role}`}>
              {ctx.user.email}
            </span>
            <form action={signOut} className="shrink-0">
              <button className="rounded-md px-2 py-1 text-sm font-medium text-slate-200 hover:bg-slate-800 hover:text-white">Sign out</button>
            </form>
          </div>
        </div>
      </header>
      <main className="mx-auto max-w-7xl px-4 py-6">{children}</main>
    </div>
  );
}
