import type { Metadata } from "next";
import Link from "next/link";
import { Card } from "@/app/_components/card";
import { RelativeTime } from "@/app/_components/relative-time";
import { actorContext, orNotFound, requirePageContext } from "@/app/_lib/context";
import { toLiveFanout } from "@/lib/live/rows";
import { getFanout } from "@/lib/tasks/queries";
import { FanoutLive } from "./fanout-live";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ code: string }> }): Promise<Metadata> {
  return { title: `Fan-out ${(await params).code}` };
}

export default async function FanoutPage({ params }: { params: Promise<{ code: string }> }) {
  const ctx = await requirePageContext();
  const { code } = await params;
  const fanout = await orNotFound(() => getFanout(actorContext(ctx.actor), code));
  const t = fanout.target;
  const target = t.all
    ? "the whole organization"
    : [t.ous?.length ? `OU${t.ous.length === 1 ? "" : "s"} ${t.ous.join(", ")}` : "", t.devices?.length ? `device${t.devices.length === 1 ? "" : "s"} ${t.devices.join(", ")}` : ""].filter(Boolean).join(" and ");
  return (
    <div className="space-y-5">
      <nav aria-label="Breadcrumb" className="text-sm text-slate-500">
        <Link href="/tasks" className="hover:underline">
          Tasks
        </Link>{" "}
        / fan-out <span className="font-mono">{fanout.code}</span>
      </nav>
      <header>
        <h1 className="text-2xl font-semibold tracking-tight">
          Fan-out <span className="font-mono">{fanout.code}</span>
        </h1>
        <p className="text-sm text-slate-500">
          {fanout.type} to {fanout.total} device{fanout.total === 1 ? "" : "s"} · {target}
        </p>
      </header>
      <FanoutLive initial={toLiveFanout(fanout)} />
      <Card title="Details">
        <dl className="grid gap-x-6 gap-y-2 text-sm sm:grid-cols-2">
          <div>
            <dt className="text-slate-500">Issued</dt>
            <dd>
              <RelativeTime value={fanout.createdAt} /> by {fanout.createdByEmail ?? "system"}
            </dd>
          </div>
          <div>
            <dt className="text-slate-500">Tasks</dt>
            <dd>
              {/* The counts by status are the live bar's legend above: a copy here would go stale. */}
              <Link className="text-sky-700 hover:underline" href={`/tasks?fanout=${fanout.code}`}>
                All {fanout.total} in the task list
              </Link>
            </dd>
          </div>
        </dl>
      </Card>
    </div>
  );
}
