import type { Metadata } from "next";
import Link from "next/link";
import { getDb } from "@/db/client";
import { Alert, EmptyState } from "@/app/_components/card";
import { FanoutProgress } from "@/app/_components/fanout-progress";
import { RelativeTime } from "@/app/_components/relative-time";
import { StatusBadge } from "@/app/_components/status-badge";
import { requirePageContext } from "@/app/_lib/context";
import { roleAtLeast } from "@/lib/auth/roles";
import { listOus } from "@/lib/devices/devices";
import { isDomainError } from "@/lib/errors";
import { activeFanouts, listTasks } from "@/lib/tasks/queries";
import { FilterBar } from "./filter-bar";
import { IssueForm } from "./issue-form";
import { listHref, pickFilter } from "./search-params";

export const metadata: Metadata = { title: "Tasks" };
export const dynamic = "force-dynamic";

const PAGE_SIZE = 30;

export default async function TasksPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const ctx = await requirePageContext();
  const db = getDb();
  const { filter, position } = pickFilter(await searchParams);
  let list: ReturnType<typeof listTasks> | null = null;
  let error: string | null = null;
  try {
    list = listTasks(db, ctx.actor, { filter, cursor: position, limit: PAGE_SIZE });
  } catch (e) {
    if (!isDomainError(e)) throw e;
    error = e.message;
  }
  const canWrite = roleAtLeast(ctx.actor.role, "READ_WRITE");
  const fanouts = activeFanouts(db, ctx.actor);
  const filtered = Object.values(filter).some(Boolean);
  const items = list?.items ?? [];

  return (
    <div className="space-y-5">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <div>
          <h1 className="text-2xl font-semibold tracking-tight">Tasks</h1>
          <p className="text-sm text-slate-500">Every action taken on a device of {ctx.organization!.name}, newest first.</p>
        </div>
      </div>

      {canWrite && (
        <details className="card group" id="issue">
          <summary className="flex cursor-pointer list-none items-center justify-between px-4 py-3 text-sm font-semibold text-slate-800 marker:hidden">
            <span>Issue task</span>
            <span aria-hidden className="text-slate-400 group-open:rotate-180">
              ▾
            </span>
          </summary>
          <div className="border-t border-slate-100">
            <IssueForm ous={listOus(db, ctx.actor.organizationId).map((o) => o.name)} />
          </div>
        </details>
      )}

      {fanouts.length > 0 && (
        <section aria-label="Active fan-outs" className="grid gap-3">
          {fanouts.map((f) => (
            <FanoutProgress key={f.id} fanout={f} />
          ))}
        </section>
      )}

      <FilterBar filter={filter} />
      {filter.fanout && !error && (
        <p className="text-sm text-slate-600">
          Showing fan-out <span className="font-mono font-semibold">{filter.fanout}</span> ·{" "}
          <Link className="text-sky-700 hover:underline" href={listHref({ ...filter, fanout: undefined })}>
            show all fan-outs
          </Link>
        </p>
      )}
      {error && <Alert>{error}</Alert>}

      <div className="card overflow-x-auto">
        <table className="w-full text-left text-sm">
          <thead className="border-b border-slate-200 bg-slate-50 text-xs tracking-wide text-slate-500 uppercase">
            <tr>
              {["Task Code", "Type", "Status", "Device", "Organization", "Scheduled", "Created"].map((h) => (
                <th key={h} scope="col" className="px-4 py-2.5 font-semibold">
                  {h}
                </th>
              ))}
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {items.map((t) => (
              <tr key={t.code} className="hover:bg-slate-50" data-code={t.code}>
                <td className="px-4 py-2">
                  <Link href={`/tasks/${t.code}`} className="font-mono font-semibold text-sky-700 hover:underline">
                    {t.code}
                  </Link>
                </td>
                <td className="px-4 py-2 font-medium">{t.type}</td>
                <td className="px-4 py-2">
                  <StatusBadge status={t.status} />
                </td>
                <td className={`px-4 py-2 ${t.device.endsWith("__deleted__") ? "text-slate-400 line-through decoration-slate-300" : ""}`}>{t.device}</td>
                <td className="px-4 py-2 text-slate-600">{t.organization}</td>
                <td className="px-4 py-2 whitespace-nowrap">
                  <RelativeTime value={t.scheduledAt} />
                </td>
                <td className="px-4 py-2 whitespace-nowrap">
                  <RelativeTime value={t.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {!error && items.length === 0 && (
          <EmptyState title={filtered ? "No tasks match these filters" : "No tasks yet"}>
            {filtered ? (
              <Link href="/tasks" className="text-sky-700 hover:underline">
                Clear the filters
              </Link>
            ) : canWrite ? (
              "Issue one above, or from a device on the Devices page."
            ) : (
              "Tasks appear here as soon as someone issues one."
            )}
          </EmptyState>
        )}
      </div>

      {list && (list.hasNewer || list.hasOlder) && (
        <nav aria-label="Pages" className="flex items-center justify-between">
          {list.hasNewer ? (
            <Link className="btn" href={listHref(filter, { after: items[0]?.id })} rel="prev">
              ← Previous
            </Link>
          ) : (
            <span />
          )}
          {list.hasOlder ? (
            <Link className="btn" href={listHref(filter, { before: items[items.length - 1]?.id })} rel="next">
              Next →
            </Link>
          ) : (
            <span />
          )}
        </nav>
      )}
    </div>
  );
}
