import type { Metadata } from "next";
import { Disclosure } from "@/app/_components/disclosure";
import Link from "next/link";
import { Alert } from "@/app/_components/card";
import { actorContext, dbContext, readingSince, renderId, requirePageContext } from "@/app/_lib/context";
import { LEAST_ROLE, roleAtLeast } from "@/rules/roles";
import { ouNames } from "@/lib/devices/devices";
import { historyOf } from "@/lib/orgs/orgs";
import { retentionLine } from "@/rules/retention";
import { format } from "date-fns";
import { isDomainError } from "@/lib/errors";
import { activeFanouts } from "@/lib/tasks/fanout-queries";
import { listTasks } from "@/lib/tasks/queries";
import { FilterBar } from "./filter-bar";
import { IssueForm } from "./issue-form";
import { LiveTaskList } from "./live-task-list";
import { toLiveFanout, toLiveRow } from "@/lib/live/rows";
import { listHref, pickFilter } from "./search-params";

export const metadata: Metadata = { title: "Tasks" };
export const dynamic = "force-dynamic";

const PAGE_SIZE = 30;

export default async function TasksPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const ctx = await requirePageContext();
  const since = readingSince();
  const verbCtx = actorContext(ctx.actor);
  const picked = pickFilter(await searchParams);
  let list: Awaited<ReturnType<typeof listTasks>> | null = null;
  let error: string | null = null;
  try {
    list = await listTasks(verbCtx, { filter: picked.filter, cursor: picked.position, limit: PAGE_SIZE });
  } catch (e) {
    if (!isDomainError(e)) throw e;
    error = e.message;
  }
  // The filter as the list read it (trimmed; a device filter of spaces is none), so that the
  // live rows, the links and the filter bar match what the server listed.
  const filter: Partial<typeof picked.filter> = list?.filter ?? picked.filter;
  const canWrite = roleAtLeast(ctx.actor.role, LEAST_ROLE.issue);
  const fanouts = await activeFanouts(verbCtx);
  const history = await historyOf(verbCtx);
  const ous = canWrite ? await ouNames(dbContext(), ctx.actor.organizationId) : [];
  const filtered = Object.values(filter).some(Boolean);

  const heading = (
    <div>
      <h1 className="text-2xl font-semibold tracking-tight">Tasks</h1>
      <p className="text-sm text-slate-500">Every action taken on a device of {ctx.organization!.name}, newest first.</p>
      <p className="text-xs text-slate-500" data-history>
        {retentionLine(history.keptDays)}
        {history.oldestAt && (
          <>
            ; the oldest here was created on {format(history.oldestAt, "d MMM yyyy")}
          </>
        )}
        .
      </p>
      <p className="text-sm">
        <Link href="/tasks/fanouts" className="text-sky-700 hover:underline">
          All fan-outs, with their outcomes →
        </Link>{" "}
        ·{" "}
        <Link href="/tasks/schedules" className="text-sky-700 hover:underline">
          Schedules →
        </Link>
      </p>
    </div>
  );
  const toolbar = (
    <>
      {canWrite && (
        <Disclosure id="issue" title="Issue task">
          <IssueForm ous={ous} />
        </Disclosure>
      )}
      <FilterBar filter={filter} />
      {filter.fanout && !error && (
        <p className="text-sm text-slate-600">
          Showing fan-out{" "}
          <Link className="font-mono font-semibold text-sky-700 hover:underline" href={`/tasks/fanouts/${filter.fanout}`}>
            {filter.fanout}
          </Link>{" "}
          ·{" "}
          <Link className="text-sky-700 hover:underline" href={listHref({ ...filter, fanout: undefined })}>
            show all fan-outs
          </Link>
        </p>
      )}
    </>
  );

  return (
    <div className="space-y-5">
      {error || !list ? (
        <>
          {heading}
          {toolbar}
          <Alert>{error}</Alert>
        </>
      ) : (
        <LiveTaskList
          organizationId={ctx.actor.organizationId}
          heading={heading}
          toolbar={toolbar}
          snapshot={{
            renderedAt: renderId(),
            since,
            items: list.items.map(toLiveRow),
            fanouts: fanouts.map(toLiveFanout),
            hasOlder: list.hasOlder,
            hasNewer: list.hasNewer,
          }}
          filter={filter}
          pageSize={PAGE_SIZE}
          emptyHint={
            filtered ? (
              <Link href="/tasks" className="text-sky-700 hover:underline">
                Clear the filters
              </Link>
            ) : canWrite ? (
              "Issue one above, or from a device on the Devices page."
            ) : (
              "Tasks appear here as soon as someone issues one."
            )
          }
        />
      )}
    </div>
  );
}
