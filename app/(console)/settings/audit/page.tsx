import type { Metadata } from "next";
import Link from "next/link";
import { Alert, Card, EmptyState } from "@/app/_components/card";
import { Breadcrumb } from "@/app/_components/breadcrumb";
import { FilterForm, FilterInput, FilterSelect } from "@/app/_components/filter-form";
import { ScrollRegion } from "@/app/_components/scroll-region";
import { TableHead } from "@/app/_components/table-head";
import { RelativeTime } from "@/app/_components/relative-time";
import { actorContext, readingSince, renderId, requirePageContext } from "@/app/_lib/context";
import { AUDIT_ACTIONS, AUDIT_GROUPS, auditActionLabel } from "@/rules/audit";
import { auditFilterSchema, listAudit, type AuditFilter } from "@/lib/audit/queries";
import { tryParse } from "@/lib/validation";
import { pageHref, pickParams } from "../../tasks/search-params";
import { AuditLive } from "./audit-live";
import { LEAST_ROLE, roleAtLeast } from "@/rules/roles";

export const metadata: Metadata = { title: "Audit trail" };
export const dynamic = "force-dynamic";

const FILTERS = ["action", "actor", "target", "since", "until"] as const;

/** The action filter: each group (all of it, then its actions). */
const ACTION_OPTIONS = Object.entries(AUDIT_GROUPS).map(([group, label]) => ({
  group: label,
  options: [[group, `All of ${label.toLowerCase()}`] as [string, string], ...Object.entries(AUDIT_ACTIONS).filter(([a]) => a.startsWith(`${group}.`))],
}));

/**
 * A row's details in a line: key: value, values written as JSON when they are not text; keys
 * in alphabetical order (PostgreSQL's jsonb keeps its own order, SQLite the written one).
 */
function detailLine(detail: Record<string, unknown> | null): string {
  if (!detail) return "";
  return Object.entries(detail)
    .sort(([a], [b]) => a.localeCompare(b))
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}: ${typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : JSON.stringify(v)}`)
    .join(" · ");
}

/** What an action was done to: tasks, fan-outs and schedules by their code or id, linked (they may since have been purged or deleted). */
function AuditTarget({ type, id, label }: { type: string | null; id: string | null; label: string | null }) {
  const href = id && type === "task" ? `/tasks/${id}` : id && type === "fanout" ? `/tasks/fanouts/${id}` : id && type === "schedule" ? `/tasks/schedules/${id}` : null;
  if (!type) return null;
  return (
    <>
      {href ? (
        <Link href={href} className="font-mono text-sky-700 hover:underline">
          {type === "schedule" ? label : id}
        </Link>
      ) : (
        (label ?? id)
      )}
      {href && type !== "schedule" && label && <span className="ml-1">{label}</span>}
      <span className="ml-1 text-xs text-slate-500">({type})</span>
    </>
  );
}

export default async function AuditPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const ctx = await requirePageContext();
  const since = readingSince();
  const heading = (
    <div>
      <Breadcrumb trail={[{ href: "/settings", label: "Settings" }]} current="Audit trail" />
      <h1 className="text-2xl font-semibold tracking-tight">Audit trail</h1>
      <p className="text-sm text-slate-500">What people and API tokens did in {ctx.organization!.name}, newest first. Rows cannot be changed or deleted.</p>
    </div>
  );
  if (!roleAtLeast(ctx.actor.role, LEAST_ROLE.readAudit)) {
    return (
      <div className="space-y-5">
        {heading}
        <Alert tone="info">Only ADMINs of this organization read its audit trail.</Alert>
      </div>
    );
  }
  const { filter: raw, position } = pickParams(await searchParams, FILTERS);
  const parsed = tryParse(auditFilterSchema, Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  const problem = parsed.success ? null : parsed.error;
  const filter: AuditFilter = parsed.success ? parsed.data : {};
  const page = parsed.success ? await listAudit(actorContext(ctx.actor), filter, { before: position.before }) : { rows: [], next: null };
  const filtered = Object.values(raw).some(Boolean);
  const exportHref = pageHref("/api/v1/audit", parsed.success ? (filter as Record<string, string | undefined>) : {});

  return (
    <div className="space-y-5">
      {heading}
      <FilterForm action="/settings/audit" label="Filter the audit trail" active={filtered}>
        <FilterSelect name="action" label="Action" all="All actions" options={ACTION_OPTIONS} value={raw.action} width="w-60" invalid={!!problem?.fieldErrors?.action} />
        <FilterInput id="audit-actor" name="actor" label="Who" value={raw.actor} placeholder="Email contains…" width="w-52" maxLength={200} />
        <FilterInput id="audit-target" name="target" label="Target" value={raw.target} placeholder="Name, code or id…" width="w-52" maxLength={200} />
        <FilterInput id="audit-since" name="since" label="From (UTC)" type="date" value={raw.since} width="w-40" />
        <FilterInput id="audit-until" name="until" label="To (UTC)" type="date" value={raw.until} width="w-40" />
      </FilterForm>
      {problem && (
        <Alert>
          {Object.entries(problem.fieldErrors ?? {}).map(([field, messages]) => (
            <span key={field} className="block">
              {field}: {messages.join("; ")}
            </span>
          ))}
          {!problem.fieldErrors && problem.message}
        </Alert>
      )}
      <Card
        title="Events"
        actions={
          <div className="flex items-center gap-4">
            <AuditLive renderId={renderId()} since={since} scope={ctx.actor.organizationId} />
            <a href={exportHref} className="text-sm text-sky-700 hover:underline" download>
              Export (JSON lines)
            </a>
          </div>
        }
      >
        <ScrollRegion label="Audit events" className="-mx-4 -my-3">
          <table className="w-full text-left text-sm">
            <TableHead columns={["When", "Who", "Action", "Target", "Details", "Address"]} />
            <tbody className="divide-y divide-slate-100">
              {page.rows.map((r) => (
                <tr key={r.id} data-audit-action={r.action} className="align-top">
                  <td className="px-4 py-2 whitespace-nowrap">
                    <RelativeTime value={r.at} />
                  </td>
                  <td className="px-4 py-2">{r.actorLabel}</td>
                  <th scope="row" className="px-4 py-2 text-left font-medium whitespace-nowrap">
                    {auditActionLabel(r.action)}
                  </th>
                  <td className="px-4 py-2">
                    <AuditTarget type={r.targetType} id={r.targetId} label={r.targetLabel} />
                  </td>
                  <td className="max-w-md px-4 py-2 text-xs break-words text-slate-600">{detailLine(r.detail)}</td>
                  <td className="px-4 py-2 font-mono text-xs whitespace-nowrap">{r.address ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {!page.rows.length && !problem && <EmptyState title={filtered ? "No event matches these filters" : "Nothing recorded yet"} />}
        </ScrollRegion>
      </Card>
      <nav aria-label="Audit pages" className="flex gap-4 text-sm">
        {position.before && (
          <Link className="text-sky-700 hover:underline" href={pageHref("/settings/audit", raw)}>
            ← Newest
          </Link>
        )}
        {page.next && (
          <Link className="text-sky-700 hover:underline" href={pageHref("/settings/audit", raw, { before: page.next })}>
            Older →
          </Link>
        )}
      </nav>
    </div>
  );
}
