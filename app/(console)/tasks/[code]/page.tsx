import type { Metadata } from "next";
import Link from "next/link";
import { Breadcrumb } from "@/app/_components/breadcrumb";
import { Card, Field } from "@/app/_components/card";
import { RelativeTime } from "@/app/_components/relative-time";
import { StatusBadge } from "@/app/_components/status-badge";
import { actorContext, orNotFound, readingSince, requirePageContext } from "@/app/_lib/context";
import { waveOf } from "@/rules/rollouts";
import { roleAtLeast } from "@/rules/roles";
import { isDeletedName } from "@/rules/devices";
import { abilities } from "@/lib/tasks/abilities";
import { getTask } from "@/lib/tasks/queries";
import { TaskActions } from "./task-actions";
import { LiveExpires, LiveMessage, LiveStatus, LiveTime, TaskLive, TaskLiveProvider } from "./task-live";
import { toLiveRow } from "@/lib/live/rows";

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ code: string }> }): Promise<Metadata> {
  return { title: `Task ${(await params).code}` };
}

export default async function TaskPage({ params }: { params: Promise<{ code: string }> }) {
  const ctx = await requirePageContext();
  const { code } = await params;
  const since = readingSince();
  const task = await orNotFound(() => getTask(actorContext(ctx.actor), code));
  const canWrite = roleAtLeast(ctx.actor.role, "READ_WRITE");
  const can = abilities(ctx.actor, { status: task.status, deviceDeleted: isDeletedName(task.device) });

  return (
    <TaskLiveProvider initial={toLiveRow(task)} since={since}>
      <div className="space-y-5">
        <Breadcrumb trail={[{ href: "/tasks", label: "Tasks" }]} current={<span className="font-mono">{task.code}</span>} />
        <header className="flex flex-wrap items-center gap-3">
          <h1 className="font-mono text-2xl font-semibold tracking-tight">{task.code}</h1>
          <LiveStatus size="lg" />
          <span className="text-sm text-slate-500">
            {task.type} on {task.device}
          </span>
          <span className="ml-auto">
            <TaskLive />
          </span>
        </header>

        <div className="grid gap-5 md:grid-cols-2">
          <Card title="Task Information">
            <dl className="divide-y divide-slate-100">
              <Field label="Task code">
                <span className="font-mono">{task.code}</span>
              </Field>
              <Field label="Type">{task.type}</Field>
              <Field label="Status">
                <LiveStatus />
              </Field>
              <Field label="Device">
                {isDeletedName(task.device) ? (
                  <span className="text-slate-500">{task.device}</span>
                ) : (
                  <Link className="text-sky-700 hover:underline" href={`/tasks?device=${encodeURIComponent(task.device)}`}>
                    {task.device}
                  </Link>
                )}
              </Field>
              <Field label="Organization">{task.organization}</Field>
              <Field label="Fan-out">
                {task.fanout ? (
                  <Link className="font-mono text-sky-700 hover:underline" href={`/tasks/fanouts/${task.fanout}`}>
                    {task.fanout}
                  </Link>
                ) : (
                  "—"
                )}
                {task.fanoutTotal && task.fanoutTotal > 1 ? <span className="text-slate-500"> ({task.fanoutTotal} devices)</span> : null}
              </Field>
              {task.payload && (
                <Field label="Payload">
                  <code className="rounded bg-slate-100 px-1.5 py-0.5 text-xs">{JSON.stringify(task.payload)}</code>
                </Field>
              )}
              <Field label="Re-run of">
                {task.rerunOf ? (
                  <Link className="font-mono text-sky-700 hover:underline" href={`/tasks/${task.rerunOf}`}>
                    {task.rerunOf}
                  </Link>
                ) : (
                  "—"
                )}
              </Field>
              <Field label="Re-runs">
                {task.reruns.length ? (
                  <ul className="flex flex-wrap gap-2">
                    {task.reruns.map((r) => (
                      <li key={r.code}>
                        <Link className="font-mono text-sky-700 hover:underline" href={`/tasks/${r.code}`}>
                          {r.code}
                        </Link>{" "}
                        <StatusBadge status={r.status} />
                      </li>
                    ))}
                  </ul>
                ) : (
                  "—"
                )}
              </Field>
              <Field label="Created by">{task.createdByEmail ?? "system"}</Field>
              {task.status === "CANCELLED" && <Field label="Cancelled by">{task.cancelledBy ?? "the system"}</Field>}
            </dl>
          </Card>

          <Card title="Timestamps">
            <dl className="divide-y divide-slate-100">
              <Field label="Created">
                <RelativeTime value={task.createdAt} />
              </Field>
              <Field label="Last updated">
                <LiveTime field="updatedAt" />
              </Field>
              <Field label="Scheduled">
                {task.scheduledAt ? (
                  <RelativeTime value={task.scheduledAt} />
                ) : task.wave !== null && task.waves !== null ? (
                  `${capitalized(waveOf(task.wave, task.waves))}${task.status === "SCHEDULED" ? "; it goes out when its wave opens" : ""}`
                ) : (
                  "Immediate"
                )}
              </Field>
              <Field label="Started">
                <LiveTime field="startedAt" empty="Not yet" />
              </Field>
              <Field label="Finished">
                <LiveTime field="finishedAt" empty="Not yet" />
              </Field>
              <Field label="Expires">
                <LiveExpires />
              </Field>
            </dl>
          </Card>

          <Card title="Message">
            <LiveMessage />
          </Card>

          <Card title="Actions">
            <TaskActions code={task.code} canCancel={can.cancel} canRerun={can.rerun} readOnly={!canWrite} />
          </Card>
        </div>
      </div>
    </TaskLiveProvider>
  );
}
