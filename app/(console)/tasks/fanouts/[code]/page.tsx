import type { Metadata } from "next";
import Link from "next/link";
import { Breadcrumb } from "@/app/_components/breadcrumb";
import { Alert, Card } from "@/app/_components/card";
import { describeTarget, formatDuration, OutcomeBadge } from "@/app/_components/fanout-labels";
import { RelativeTime } from "@/app/_components/relative-time";
import { ScrollRegion } from "@/app/_components/scroll-region";
import { StatusBadge } from "@/app/_components/status-badge";
import { actorContext, orNotFound, readingSince, requirePageContext } from "@/app/_lib/context";
import { toLiveFanout } from "@/lib/live/rows";
import { failureGroupLabel } from "@/lib/tasks/failures";
import { fanoutCockpit } from "@/lib/tasks/fanout-queries";
import { roleAtLeast } from "@/rules/roles";
import { waveLine, waveProgress, type WaveProgress } from "@/rules/rollouts";
import { CANCELLABLE_STATUSES, TASK_STATUSES } from "@/rules/tasks";
import { tasksIn } from "@/rules/fanouts";
import { ContinueButton, FanoutActions, RetryGroupButton } from "./fanout-actions";
import { FanoutLive } from "./fanout-live";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ code: string }> }): Promise<Metadata> {
  return { title: `Fan-out ${(await params).code}` };
}

/** A wave's chip: finished, open now, or still waiting (its tasks SCHEDULED, with no time). */
const WAVE_STYLES: Record<WaveProgress, string> = {
  done: "bg-emerald-50 text-emerald-900 ring-emerald-600/30",
  open: "bg-sky-50 text-sky-900 ring-sky-600/40 font-semibold",
  waiting: "bg-slate-50 text-slate-700 ring-slate-400/40",
};

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
const taskLink = (code: string) => (
  <Link href={`/tasks/${code}`} className="font-mono text-sky-700 hover:underline">
    {code}
  </Link>
);

export default async function FanoutPage({ params }: { params: Promise<{ code: string }> }) {
  const ctx = await requirePageContext();
  const { code } = await params;
  const since = readingSince();
  const c = await orNotFound(() => fanoutCockpit(actorContext(ctx.actor), code));
  const { fanout, failures, offline, durations, byOu } = c;
  const canWrite = roleAtLeast(ctx.actor.role, "READ_WRITE");
  const waiting = tasksIn(fanout.counts, CANCELLABLE_STATUSES);
  // The OU table's columns: the statuses some OU has tasks in.
  const ouStatuses = TASK_STATUSES.filter((s) => byOu.some((o) => o.counts[s] > 0));
  return (
    <div className="space-y-5">
      <Breadcrumb
        trail={[
          { href: "/tasks", label: "Tasks" },
          { href: "/tasks/fanouts", label: "Fan-outs" },
        ]}
        current={<span className="font-mono">{fanout.code}</span>}
      />
      <header className="space-y-1">
        <div className="flex flex-wrap items-center gap-3">
          <h1 className="text-2xl font-semibold tracking-tight">
            Fan-out <span className="font-mono">{fanout.code}</span>
          </h1>
          <OutcomeBadge outcome={fanout.outcome} />
        </div>
        <p className="text-sm text-slate-600">
          {fanout.type} to {plural(fanout.total, "device")} · {describeTarget(fanout.target)} · issued <RelativeTime value={fanout.createdAt} />{" "}
          {c.schedule ? (
            <>
              by the schedule{" "}
              <Link href={`/tasks/schedules/${c.schedule.id}`} className="font-medium text-sky-700 underline hover:no-underline">
                {c.schedule.name}
              </Link>
              {fanout.createdByEmail && <> (owner {fanout.createdByEmail})</>}
            </>
          ) : (
            <>by {fanout.createdByEmail ?? "system"}</>
          )}
        </p>
        {(c.retryOfCode || c.retries.length > 0) && (
          <p className="text-sm text-slate-600">
            {c.retryOfCode && (
              <>
                Retry of{" "}
                <Link href={`/tasks/fanouts/${c.retryOfCode}`} className="font-mono text-sky-700 hover:underline">
                  {c.retryOfCode}
                </Link>
                {c.retries.length > 0 && " · "}
              </>
            )}
            {c.retries.length > 0 && (
              <>
                Retries:{" "}
                {c.retries.map((r, i) => (
                  <span key={r.code}>
                    {i > 0 && ", "}
                    <Link href={`/tasks/fanouts/${r.code}`} className="font-mono text-sky-700 hover:underline">
                      {r.code}
                    </Link>{" "}
                    <span className="text-slate-500">({plural(r.total, "device")})</span>
                  </span>
                ))}
              </>
            )}
          </p>
        )}
      </header>

      {fanout.pausedAt && (
        <Alert tone="info">
          <strong>{fanout.pauseReason}</strong>, <RelativeTime value={fanout.pausedAt} />. Nothing new of this fan-out is sent to its agents until it is resumed;
          its waiting tasks still expire on time.
        </Alert>
      )}
      <FanoutLive initial={toLiveFanout(fanout)} since={since} offline={offline.count} />

      {fanout.rollout && (
        <Card title="Staged rollout">
          <div className="space-y-3 text-sm">
            <p className="text-slate-600">{fanout.rollout.summary}.</p>
            <p>
              <strong>{waveLine(fanout.rollout)}</strong>
              {fanout.rollout.state === "running" && fanout.rollout.waveOpenedAt && (
                <>
                  , opened <RelativeTime value={fanout.rollout.waveOpenedAt} />
                </>
              )}
              {fanout.rollout.nextWaveAt && fanout.outcome !== "paused" && (
                <>
                  ; wave {fanout.rollout.wave + 1} opens <RelativeTime value={fanout.rollout.nextWaveAt} />
                </>
              )}
              .
            </p>
            <ol className="flex flex-wrap gap-2" aria-label="Waves">
              {fanout.rollout.policy.sizes.map((size, i) => {
                const wave = i + 1;
                const r = fanout.rollout!;
                const state = waveProgress(wave, r);
                return (
                  <li key={wave} className={`rounded-md px-2 py-1 text-xs ring-1 ring-inset ${WAVE_STYLES[state]}`}>
                    Wave {wave}: {plural(size, "device")} · {state}
                  </li>
                );
              })}
            </ol>
            {canWrite && fanout.outcome === "running" && (fanout.rollout.state === "awaiting_continue" || fanout.rollout.state === "waiting") && (
              <ContinueButton code={fanout.code} label={fanout.rollout.state === "awaiting_continue" ? `Continue: open wave ${fanout.rollout.wave + 1} of ${fanout.rollout.waves}` : `Open wave ${fanout.rollout.wave + 1} now`} />
            )}
          </div>
        </Card>
      )}

      <Card
        title="Actions"
        actions={
          <span className="flex gap-3 text-sm">
            <a className="text-sky-700 hover:underline" href={`/api/v1/fanouts/${fanout.code}/tasks.csv`} download>
              Export CSV
            </a>
            <a className="text-sky-700 hover:underline" href={`/api/v1/fanouts/${fanout.code}/tasks.json`} download>
              Export JSON
            </a>
          </span>
        }
      >
        {canWrite ? (
          <FanoutActions code={fanout.code} failed={fanout.counts.FAILED} expired={fanout.counts.EXPIRED} waiting={waiting} open={fanout.outcome === "running" || fanout.outcome === "paused"} paused={fanout.outcome === "paused"} />
        ) : (
          <p className="text-sm text-slate-500">Your role is read-only: you can look and export, not retry or cancel.</p>
        )}
      </Card>

      <div className="grid gap-5 lg:grid-cols-2">
        <Card title={`Failures${fanout.counts.FAILED ? ` (${fanout.counts.FAILED})` : ""}`}>
          {failures.groups.length === 0 ? (
            <p className="text-sm text-slate-500">No task of this fan-out has failed.</p>
          ) : (
            <ul className="divide-y divide-slate-100">
              {failures.groups.map((g) => (
                <li key={g.group} className="py-2">
                  <details>
                    <summary className="flex cursor-pointer items-start justify-between gap-3 text-sm">
                      <span className="min-w-0 break-words font-mono text-slate-800">{failureGroupLabel(g.group)}</span>
                      <span className="shrink-0 rounded-full bg-rose-50 px-2 text-xs font-semibold tabular-nums text-rose-800 ring-1 ring-rose-600/30">{g.count}</span>
                    </summary>
                    <div className="mt-2 space-y-2 pl-2">
                      <p className="text-xs text-slate-500">
                        For example: <span className="break-words">{g.example}</span>
                      </p>
                      <ul className="text-sm">
                        {g.tasks.map((t) => (
                          <li key={t.code} className="flex gap-3">
                            {taskLink(t.code)} <span>{t.device}</span>
                          </li>
                        ))}
                        {g.count > g.tasks.length && <li className="text-xs text-slate-500">and {g.count - g.tasks.length} more</li>}
                      </ul>
                      {canWrite && <RetryGroupButton code={fanout.code} group={g.group} count={g.count} />}
                    </div>
                  </details>
                </li>
              ))}
              {failures.more > 0 && <li className="py-2 text-xs text-slate-500">and {plural(failures.more, "smaller group")}</li>}
            </ul>
          )}
        </Card>

        <Card title="Offline devices">
          {offline.count === 0 ? (
            <p className="text-sm text-slate-500">No task of this fan-out waits for an offline device.</p>
          ) : (
            <div className="space-y-3">
              <p className="text-sm text-slate-700">
                {plural(offline.count, "device")} offline
                {offline.lastSeenLast ? (
                  <>
                    , last seen <RelativeTime value={offline.lastSeenLast} />
                    {offline.lastSeenFirst && offline.lastSeenFirst.getTime() !== offline.lastSeenLast.getTime() && (
                      <>
                        {" "}
                        (the longest <RelativeTime value={offline.lastSeenFirst} />)
                      </>
                    )}
                  </>
                ) : (
                  ", never seen"
                )}
                {offline.expiresFirst && (
                  <>
                    ; their tasks expire <RelativeTime value={offline.expiresFirst} />
                  </>
                )}
                . The pace above leaves them out.
              </p>
              <div className="overflow-x-auto">
                <table className="w-full text-left text-sm">
                  <thead className="text-xs text-slate-500">
                    <tr>
                      <th className="py-1 pr-3 font-medium">Device</th>
                      <th className="py-1 pr-3 font-medium">Last heartbeat</th>
                      <th className="py-1 pr-3 font-medium">Task</th>
                      <th className="py-1 font-medium">Expires</th>
                    </tr>
                  </thead>
                  <tbody>
                    {offline.devices.map((d) => (
                      <tr key={d.code} className="border-t border-slate-100">
                        <td className="py-1 pr-3">{d.device}</td>
                        <td className="py-1 pr-3">
                          <RelativeTime value={d.lastHeartbeatAt} empty="never" />
                        </td>
                        <td className="py-1 pr-3">{taskLink(d.code)}</td>
                        <td className="py-1">
                          <RelativeTime value={d.expiresAt} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {offline.count > offline.devices.length && <p className="text-xs text-slate-500">and {offline.count - offline.devices.length} more</p>}
            </div>
          )}
        </Card>

        <Card title="Durations">
          {durations.count === 0 ? (
            <p className="text-sm text-slate-500">No task of this fan-out has run to the end yet.</p>
          ) : (
            <div className="space-y-3">
              <dl className="grid grid-cols-3 gap-3 text-sm">
                <div>
                  <dt className="text-slate-500">Median</dt>
                  <dd className="text-lg font-semibold tabular-nums">{formatDuration(durations.p50Ms!)}</dd>
                </div>
                <div>
                  <dt className="text-slate-500">95th percentile</dt>
                  <dd className="text-lg font-semibold tabular-nums">{formatDuration(durations.p95Ms!)}</dd>
                </div>
                <div>
                  <dt className="text-slate-500">Tasks that ran</dt>
                  <dd className="text-lg font-semibold tabular-nums">{durations.count}</dd>
                </div>
              </dl>
              <div>
                <h3 className="text-xs font-medium text-slate-500">Slowest, started → finished</h3>
                <ul className="mt-1 text-sm">
                  {durations.slowest.map((t) => (
                    <li key={t.code} className="flex flex-wrap items-center gap-3 py-0.5">
                      {taskLink(t.code)} <span>{t.device}</span> <StatusBadge status={t.status} /> <span className="ml-auto tabular-nums">{formatDuration(t.ms)}</span>
                    </li>
                  ))}
                </ul>
              </div>
            </div>
          )}
        </Card>

        {byOu.length > 0 && (
          <Card title="By OU">
            <ScrollRegion label="Counts by OU">
              <table className="w-full text-left text-sm">
                <thead className="text-xs text-slate-500">
                  <tr>
                    <th className="py-1 pr-3 font-medium">OU</th>
                    {ouStatuses.map((s) => (
                      <th key={s} className="py-1 pr-3 text-right font-medium">
                        {s.replace("_", " ")}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {byOu.map((o) => (
                    <tr key={o.ou} className="border-t border-slate-100">
                      <td className="py-1 pr-3">{o.ou}</td>
                      {ouStatuses.map((s) => (
                        <td key={s} className={`py-1 pr-3 text-right tabular-nums ${o.counts[s] ? "" : "text-slate-500"}`}>
                          {o.counts[s]}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </ScrollRegion>
            <p className="mt-2 text-xs text-slate-500">
              A device in several OUs counts in each.
              {c.byOuAsOf && (
                <>
                  {" "}
                  While the fan-out runs these are counted every few seconds: as of <RelativeTime value={c.byOuAsOf} />.
                </>
              )}
            </p>
          </Card>
        )}
      </div>
    </div>
  );
}
