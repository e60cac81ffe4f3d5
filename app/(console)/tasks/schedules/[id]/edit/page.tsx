import type { Metadata } from "next";
import Link from "next/link";
import { Breadcrumb } from "@/app/_components/breadcrumb";
import { Alert } from "@/app/_components/card";
import { actorContext, dbContext, orNotFound, requirePageContext } from "@/app/_lib/context";
import { ouNames } from "@/lib/devices/devices";
import { getSchedule } from "@/lib/schedules/schedules";
import { roleAtLeast } from "@/rules/roles";
import { specFormValues } from "../../../spec-form";
import { ScheduleForm } from "../../schedule-form";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  return { title: `Change schedule ${(await params).id}` };
}

/** A schedule's form with its saved values; saving replaces them and goes back to its page. */
export default async function EditSchedulePage({ params }: { params: Promise<{ id: string }> }) {
  const ctx = await requirePageContext();
  const { id } = await params;
  const s = await orNotFound(() => getSchedule(actorContext(ctx.actor), id, new Date(), 0));
  const spec = specFormValues(s.type, s.spec);
  const canWrite = roleAtLeast(ctx.actor.role, "READ_WRITE");
  const ous = canWrite && spec ? await ouNames(dbContext(), ctx.actor.organizationId) : [];
  return (
    <div className="space-y-5">
      <div>
        <Breadcrumb
          trail={[
            { href: "/tasks", label: "Tasks" },
            { href: "/tasks/schedules", label: "Schedules" },
            { href: `/tasks/schedules/${s.id}`, label: s.name },
          ]}
          current="Change"
        />
        <h1 className="text-2xl font-semibold tracking-tight">Change {s.name}</h1>
        <p className="text-sm text-slate-500">
          Runs from now on issue what is saved here; the fan-outs it issued stay as they are. It stays {s.enabled ? "running" : "paused"}.
        </p>
      </div>
      {!canWrite ? (
        <Alert tone="info">Your role is read-only: you see schedules but cannot change them.</Alert>
      ) : !spec ? (
        <Alert tone="info">
          Its target names both devices and OUs, which this form does not show: change it with <code>PUT /api/v1/schedules/{s.id}</code>, or{" "}
          <Link className="underline" href={`/tasks/schedules/${s.id}`}>
            go back
          </Link>
          .
        </Alert>
      ) : (
        <section className="card">
          <ScheduleForm ous={ous} edit={{ id: s.id, name: s.name, cron: s.cron, timezone: s.timezone, catchUp: s.catchUp, spec }} />
        </section>
      )}
    </div>
  );
}
