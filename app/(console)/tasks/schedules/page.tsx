import type { Metadata } from "next";
import { Disclosure } from "@/app/_components/disclosure";
import Link from "next/link";
import { Breadcrumb } from "@/app/_components/breadcrumb";
import { EmptyState } from "@/app/_components/card";
import { RelativeTime } from "@/app/_components/relative-time";
import { ScrollRegion } from "@/app/_components/scroll-region";
import { TableHead } from "@/app/_components/table-head";
import { actorContext, dbContext, requirePageContext } from "@/app/_lib/context";
import { ouNames } from "@/lib/devices/devices";
import { lastRuns, listSchedules } from "@/lib/schedules/schedules";
import { roleAtLeast } from "@/rules/roles";
import { recurrenceLine } from "@/rules/schedules";
import { ScheduleForm } from "./schedule-form";
import { OutcomeBadge } from "./outcome-badge";

export const metadata: Metadata = { title: "Schedules" };
export const dynamic = "force-dynamic";

export default async function SchedulesPage() {
  const ctx = await requirePageContext();
  const verbCtx = actorContext(ctx.actor);
  const canWrite = roleAtLeast(ctx.actor.role, "READ_WRITE");
  const list = await listSchedules(verbCtx);
  const last = await lastRuns(verbCtx, list.map((s) => s.id));
  const ous = canWrite ? await ouNames(dbContext(), ctx.actor.organizationId) : [];

  return (
    <div className="space-y-5">
      <div>
        <Breadcrumb trail={[{ href: "/tasks", label: "Tasks" }]} current="Schedules" />
        <h1 className="text-2xl font-semibold tracking-tight">Schedules</h1>
        <p className="text-sm text-slate-500">
          Work that recurs in {ctx.organization!.name}: each run issues one fan-out to its target as it is then.
          {!canWrite && " Your role is read-only: you see schedules but cannot change them."}
        </p>
      </div>
      {canWrite && (
        <Disclosure id="new-schedule" title="New schedule">
          <ScheduleForm ous={ous} />
        </Disclosure>
      )}
      <section className="card" aria-label="Schedules">
        <ScrollRegion label="Schedule list">
          <table className="w-full text-left text-sm">
            <TableHead columns={["Name", "Type", "Recurrence", "Next run", "Last run", "Owner"]} />
            <tbody className="divide-y divide-slate-100">
              {list.map((s) => {
                const l = last.get(s.id);
                return (
                  <tr key={s.id} data-schedule={s.name}>
                    <th scope="row" className="px-4 py-2 text-left font-medium">
                      <Link href={`/tasks/schedules/${s.id}`} className="text-sky-700 hover:underline">
                        {s.name}
                      </Link>
                    </th>
                    <td className="px-4 py-2">{s.type}</td>
                    <td className="px-4 py-2">{recurrenceLine(s)}</td>
                    <td className="px-4 py-2 whitespace-nowrap">{s.enabled ? <RelativeTime value={s.nextRunAt} /> : <span className="font-medium text-amber-800">Paused</span>}</td>
                    <td className="px-4 py-2 whitespace-nowrap">
                      {l ? (
                        <span className="inline-flex items-center gap-2">
                          <OutcomeBadge outcome={l.outcome} /> <RelativeTime value={l.dueAt} />
                        </span>
                      ) : (
                        "never"
                      )}
                    </td>
                    <td className="px-4 py-2">{s.owner ?? "—"}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {!list.length && <EmptyState title="No schedules yet">{canWrite ? "Create one above: a nightly backup, an hourly sync." : "An admin can create one."}</EmptyState>}
        </ScrollRegion>
      </section>
    </div>
  );
}
