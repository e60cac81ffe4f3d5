import type { Metadata } from "next";
import Link from "next/link";
import { Breadcrumb } from "@/app/_components/breadcrumb";
import { Card, EmptyState, Field } from "@/app/_components/card";
import { RelativeTime } from "@/app/_components/relative-time";
import { ScrollRegion } from "@/app/_components/scroll-region";
import { TableHead } from "@/app/_components/table-head";
import { actorContext, orNotFound, readingSince, requirePageContext } from "@/app/_lib/context";
import { getSchedule } from "@/lib/schedules/schedules";
import { rolloutSchema } from "@/lib/tasks/schemas";
import { isRolloutPreset, policySummary, ROLLOUT_PRESET_LABELS } from "@/rules/rollouts";
import { roleAtLeast } from "@/rules/roles";
import { TTL_SECONDS } from "@/rules/tasks";
import { ttlInUnits } from "../../spec-form";
import { recurrenceLine } from "@/rules/schedules";
import { OutcomeBadge } from "../outcome-badge";
import { ScheduleActions } from "./schedule-actions";
import { ScheduleLive } from "./schedule-live";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  return { title: `Schedule ${(await params).id}` };
}

/** A target in words, as the issue form takes it. */
function targetLine(t: { devices?: string[]; ous?: string[]; all?: boolean }): string {
  if (t.all) return "The whole organization";
  return [t.devices?.length ? `Devices: ${t.devices.join(", ")}` : null, t.ous?.length ? `OUs: ${t.ous.join(", ")}` : null].filter(Boolean).join("; ");
}

function ttlLine(seconds: number): string {
  const { value, unit } = ttlInUnits(seconds);
  return `${value} ${value === 1 ? unit.slice(0, -1) : unit}`;
}

/** A rollout as saved (a preset's name or a policy in the API's words), in words. */
function rolloutLine(raw: unknown): string {
  if (raw === undefined || raw === null) return "All at once";
  if (isRolloutPreset(raw)) return ROLLOUT_PRESET_LABELS[raw];
  const parsed = rolloutSchema.safeParse(raw);
  if (!parsed.success) return "Not valid: its runs fail until it is changed";
  return parsed.data ? policySummary(parsed.data) : "All at once";
}

export default async function SchedulePage({ params }: { params: Promise<{ id: string }> }) {
  const ctx = await requirePageContext();
  const { id } = await params;
  const since = readingSince();
  const s = await orNotFound(() => getSchedule(actorContext(ctx.actor), id));
  const canWrite = roleAtLeast(ctx.actor.role, "READ_WRITE");
  const zone = new Intl.DateTimeFormat("en-GB", { timeZone: s.timezone, weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });

  return (
    <div className="space-y-5">
      <Breadcrumb
        trail={[
          { href: "/tasks", label: "Tasks" },
          { href: "/tasks/schedules", label: "Schedules" },
        ]}
        current={s.name}
      />
      <header className="flex flex-wrap items-center gap-3">
        <h1 className="text-2xl font-semibold tracking-tight">{s.name}</h1>
        <span className={`rounded-md px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${s.enabled ? "bg-emerald-50 text-emerald-800 ring-emerald-600/20" : "bg-amber-50 text-amber-900 ring-amber-600/20"}`}>
          {s.enabled ? "Running" : "Paused"}
        </span>
        <span className="ml-auto">
          <ScheduleLive since={since} id={s.id} fanouts={s.runs.flatMap((r) => (r.fanout ? [r.fanout] : []))} scope={ctx.actor.organizationId} />
        </span>
      </header>

      <div className="grid gap-5 md:grid-cols-2">
        <Card title="What it issues">
          <dl className="divide-y divide-slate-100">
            <Field label="Type">{s.type}</Field>
            <Field label="Target">{targetLine(s.spec.targets)}</Field>
            {s.spec.payload !== undefined && s.spec.payload !== null && Object.keys(s.spec.payload as object).length > 0 && (
              <Field label="Payload">
                <code className="text-xs">{JSON.stringify(s.spec.payload)}</code>
              </Field>
            )}
            <Field label="Time to live">{ttlLine(s.spec.ttl_seconds ?? TTL_SECONDS.default)}</Field>
            <Field label="Rollout">{rolloutLine(s.spec.rollout)}</Field>
            <Field label="Owner">{s.owner ?? "— (its runs are skipped)"}</Field>
          </dl>
        </Card>
        <Card title="When">
          <dl className="divide-y divide-slate-100">
            <Field label="Recurrence">
              {recurrenceLine(s)} · <code className="text-xs">{s.cron}</code>
            </Field>
            <Field label="Missed runs">{s.catchUp ? "Run once when the server is back" : "Skipped (recorded)"}</Field>
            <Field label="Next runs">
              {s.nextRuns.length ? (
                <ol className="list-inside list-decimal">
                  {s.nextRuns.map((r) => (
                    <li key={r.getTime()}>
                      <time dateTime={r.toISOString()}>{zone.format(r)}</time>
                    </li>
                  ))}
                </ol>
              ) : (
                "None while paused"
              )}
            </Field>
          </dl>
          {canWrite && <ScheduleActions id={s.id} name={s.name} enabled={s.enabled} />}
        </Card>
      </div>

      <Card title="Runs">
        <ScrollRegion label="Runs of this schedule" className="-mx-4 -my-3">
          <table className="w-full text-left text-sm">
            <TableHead columns={["Due", "Outcome", "Fan-out", "Why"]} />
            <tbody className="divide-y divide-slate-100">
              {s.runs.map((r) => (
                <tr key={r.id} data-run-outcome={r.outcome}>
                  <th scope="row" className="px-4 py-2 text-left font-normal whitespace-nowrap">
                    <time dateTime={r.dueAt.toISOString()}>{zone.format(r.dueAt)}</time>
                  </th>
                  <td className="px-4 py-2">
                    <OutcomeBadge outcome={r.outcome} />
                  </td>
                  <td className="px-4 py-2 font-mono">
                    {r.fanout ? (
                      <Link className="text-sky-700 hover:underline" href={`/tasks/fanouts/${r.fanout}`}>
                        {r.fanout}
                      </Link>
                    ) : r.outcome === "issued" ? (
                      <span className="font-sans text-xs text-slate-500">purged</span>
                    ) : (
                      "—"
                    )}
                  </td>
                  <td className="px-4 py-2 text-xs text-slate-600">{r.reason ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {!s.runs.length && (
            <EmptyState title="No runs yet">
              {s.nextRuns[0] ? (
                <>
                  The first is due <RelativeTime value={s.nextRuns[0]} />.
                </>
              ) : (
                "It is paused."
              )}
            </EmptyState>
          )}
        </ScrollRegion>
      </Card>
    </div>
  );
}
