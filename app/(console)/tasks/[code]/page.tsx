import type { Metadata } from "next";
import Link from "next/link";
import { getDb } from "@/db/client";
import { Card, Field } from "@/app/_components/card";
import { RelativeTime } from "@/app/_components/relative-time";
import { StatusBadge } from "@/app/_components/status-badge";
import { orNotFound, requirePageContext } from "@/app/_lib/context";
import { roleAtLeast } from "@/rules/roles";
import { isDeletedName } from "@/rules/devices";
import { CANCELLABLE_STATUSES, isFinal, LEASE_MINUTES, type TaskStatus } from "@/rules/tasks";
import { getTask } from "@/lib/tasks/queries";
import { TaskActions } from "./task-actions";
import { TaskLive } from "./task-live";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ code: string }> }): Promise<Metadata> {
  return { title: `Task ${(await params).code}` };
}

export default async function TaskPage({ params }: { params: Promise<{ code: string }> }) {
  const ctx = await requirePageContext();
  const { code } = await params;
  const task = orNotFound(() => getTask(getDb(), ctx.actor, code));
  const canWrite = roleAtLeast(ctx.actor.role, "READ_WRITE");
  const canCancel = canWrite && (CANCELLABLE_STATUSES as readonly TaskStatus[]).includes(task.status);
  const canRerun = canWrite && isFinal(task.status) && !isDeletedName(task.device);

  return (
    <div className="space-y-5">
      <nav aria-label="Breadcrumb" className="text-sm text-slate-500">
        <Link href="/tasks" className="hover:underline">
          Tasks
        </Link>{" "}
        / <span className="font-mono">{task.code}</span>
      </nav>
      <header className="flex flex-wrap items-center gap-3">
        <h1 className="font-mono text-2xl font-semibold tracking-tight">{task.code}</h1>
        <StatusBadge status={task.status} size="lg" />
        <span className="text-sm text-slate-500">
          {task.type} on {task.device}
        </span>
        <span className="ml-auto">
          <TaskLive code={task.code} final={isFinal(task.status)} />
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
              <StatusBadge status={task.status} />
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
          </dl>
        </Card>

        <Card title="Timestamps">
          <dl className="divide-y divide-slate-100">
            <Field label="Created">
              <RelativeTime value={task.createdAt} />
            </Field>
            <Field label="Last updated">
              <RelativeTime value={task.updatedAt} />
            </Field>
            <Field label="Scheduled">{task.scheduledAt ? <RelativeTime value={task.scheduledAt} /> : "Immediate"}</Field>
            <Field label="Started">
              <RelativeTime value={task.startedAt} empty="Not yet" />
            </Field>
            <Field label="Finished">
              <RelativeTime value={task.finishedAt} empty="Not yet" />
            </Field>
            <Field label="Expires">
              {isFinal(task.status) ? <span className="text-slate-500">— (finished)</span> : <RelativeTime value={task.expiresAt} />}
              {task.status === "IN_PROGRESS" && <span className="block text-xs text-slate-500">Fails if no result within {LEASE_MINUTES[task.type]} minutes of starting</span>}
            </Field>
          </dl>
        </Card>

        <Card title="Message">
          {task.message ? (
            // A long message scrolls inside its box: the box takes the focus so the keyboard can scroll it.
            <pre tabIndex={0} className="max-h-80 overflow-auto rounded-md bg-slate-900 p-3 font-mono text-xs whitespace-pre-wrap text-slate-100">
              {task.message}
            </pre>
          ) : (
            <p className="text-sm text-slate-500">{isFinal(task.status) ? "The agent sent no message." : "No message yet: the agent reports one when the task finishes."}</p>
          )}
        </Card>

        <Card title="Actions">
          <TaskActions code={task.code} canCancel={canCancel} canRerun={canRerun} readOnly={!canWrite} />
        </Card>
      </div>
    </div>
  );
}
