import type { Metadata } from "next";
import Link from "next/link";
import { Breadcrumb } from "@/app/_components/breadcrumb";
import { Alert } from "@/app/_components/card";
import { actorContext, readingSince, renderId, requirePageContext } from "@/app/_lib/context";
import { isDomainError } from "@/lib/errors";
import { toLiveFanout } from "@/lib/live/rows";
import { fanoutIssuers, listFanouts } from "@/lib/tasks/fanout-queries";
import { FANOUT_OUTCOME_LABELS, FANOUT_OUTCOMES } from "@/rules/fanouts";
import { TASK_TYPES } from "@/rules/tasks";
import { describeTarget } from "@/app/_components/fanout-labels";
import { LiveFanoutList, type FanoutListRow } from "./live-fanout-list";
import { pageHref, pickParams } from "../search-params";

export const metadata: Metadata = { title: "Fan-outs" };
export const dynamic = "force-dynamic";

const PAGE_SIZE = 25;

export default async function FanoutsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const ctx = await requirePageContext();
  const since = readingSince();
  const verbCtx = actorContext(ctx.actor);
  const { filter, position } = pickParams(await searchParams, ["type", "outcome", "by"] as const);
  let list: Awaited<ReturnType<typeof listFanouts>> | null = null;
  let error: string | null = null;
  try {
    list = await listFanouts(verbCtx, { filter, cursor: position, limit: PAGE_SIZE });
  } catch (e) {
    if (!isDomainError(e)) throw e;
    error = e.message;
  }
  const issuers = await fanoutIssuers(verbCtx);
  const filtered = Object.values(filter).some(Boolean);
  const rows: FanoutListRow[] = (list?.items ?? []).map((f) => ({ ...toLiveFanout(f), id: f.id, target: describeTarget(f.target), issuedBy: f.createdByEmail ?? "system" }));
  return (
    <div className="space-y-5">
      <Breadcrumb trail={[{ href: "/tasks", label: "Tasks" }]} current="Fan-outs" />
      <div>
        <h1 className="text-2xl font-semibold tracking-tight">Fan-outs</h1>
        <p className="text-sm text-slate-500">Every fan-out issued in {ctx.organization!.name}, newest first: what it targeted, how far it got, and how it ended.</p>
      </div>
      <form method="get" action="/tasks/fanouts" className="card flex flex-wrap items-end gap-3 px-4 py-3" aria-label="Filter fan-outs">
        <FilterSelect label="Type" name="type" value={filter.type} any="Any type" options={TASK_TYPES.map((t) => [t, t])} />
        <FilterSelect label="Outcome" name="outcome" value={filter.outcome} any="Any outcome" options={FANOUT_OUTCOMES.map((o) => [o, FANOUT_OUTCOME_LABELS[o]])} />
        <FilterSelect label="Issued by" name="by" value={filter.by} any="Anyone" options={issuers.map((u) => [u.id, u.email])} />
        <button type="submit" className="btn">
          Filter
        </button>
        {filtered && (
          <Link href="/tasks/fanouts" className="text-sm text-sky-700 hover:underline">
            Clear the filters
          </Link>
        )}
      </form>
      {error || !list ? (
        <Alert>{error}</Alert>
      ) : (
        <>
          <LiveFanoutList renderedAt={renderId()} since={since} rows={rows} firstPage={position.before === undefined && position.after === undefined} />
          <nav aria-label="Pages" className="flex justify-between text-sm">
            {list.hasNewer && rows.length ? (
              <Link className="text-sky-700 hover:underline" href={pageHref("/tasks/fanouts", filter, { after: rows[0].id })}>
                ← Newer
              </Link>
            ) : (
              <span />
            )}
            {list.hasOlder && rows.length ? (
              <Link className="text-sky-700 hover:underline" href={pageHref("/tasks/fanouts", filter, { before: rows[rows.length - 1].id })}>
                Older →
              </Link>
            ) : (
              <span />
            )}
          </nav>
        </>
      )}
    </div>
  );
}

/** One filter of the list: a select whose first option is "any", its value kept in the URL. */
function FilterSelect({ label, name, value, any, options }: { label: string; name: string; value?: string; any: string; options: [string, string][] }) {
  return (
    <label className="grid gap-1 text-sm">
      <span className="text-slate-600">{label}</span>
      <select name={name} defaultValue={value ?? ""} className="input">
        <option value="">{any}</option>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}
