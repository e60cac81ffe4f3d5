import type { Metadata } from "next";
import { FilterForm, FilterInput } from "@/app/_components/filter-form";
import Link from "next/link";
import { z } from "zod";
import { isStorable } from "@/lib/validation";
import { EmptyState } from "@/app/_components/card";
import { RelativeTime } from "@/app/_components/relative-time";
import { ScrollRegion } from "@/app/_components/scroll-region";
import { DeviceStatusBadge } from "@/app/_components/status-badge";
import { actorContext, requirePageContext } from "@/app/_lib/context";
import { roleAtLeast } from "@/rules/roles";
import { DEVICE_NAME_MAX } from "@/rules/devices";
import { listDevices, type DeviceRow as Device } from "@/lib/devices/devices";
import { DeviceRow } from "./device-row";
import { SyncAll } from "./sync-all";

export const metadata: Metadata = { title: "Devices" };
export const dynamic = "force-dynamic";

const HEADERS = ["Name", "Status", "Online", "OUs", "Agent version", "Last heartbeat", "Enrolled"];

// A query the form could not have sent is ignored rather than shown as an error.
const querySchema = z.string().trim().max(DEVICE_NAME_MAX).refine(isStorable).optional().catch(undefined);

const plural = (n: number, word: string) => `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;

function Cells({ d }: { d: Device }) {
  return (
    <>
      {/* On a narrow screen the table scrolls sideways under the name, which stays in view. */}
      <th scope="row" className="bg-inherit px-4 py-2 text-left font-mono font-semibold whitespace-nowrap max-md:sticky max-md:left-0">
        {d.name}
      </th>
      <td className="px-4 py-2">
        <DeviceStatusBadge status={d.status} />
      </td>
      <td className="px-4 py-2 whitespace-nowrap">
        <span className={`inline-flex items-center gap-1.5 ${d.online ? "text-emerald-700" : "text-slate-500"}`}>
          <span aria-hidden className={`size-2 rounded-full ${d.online ? "bg-emerald-500" : "bg-slate-300"}`} />
          {d.online ? "online" : "offline"}
        </span>
      </td>
      <td className="px-4 py-2">
        {d.ous.length ? (
          <ul className="flex flex-wrap gap-1">
            {d.ous.map((ou) => (
              <li key={ou} className="rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-700">
                {ou}
              </li>
            ))}
          </ul>
        ) : (
          <span className="text-slate-500">—</span>
        )}
      </td>
      <td className="px-4 py-2 font-mono text-xs">{d.agentVersion ?? <span className="text-slate-500">—</span>}</td>
      <td className="px-4 py-2 whitespace-nowrap">
        <RelativeTime value={d.lastHeartbeatAt} empty="never" />
      </td>
      <td className="px-4 py-2 whitespace-nowrap">
        <RelativeTime value={d.enrolledAt} />
      </td>
    </>
  );
}

export default async function DevicesPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const ctx = await requirePageContext();
  const verbCtx = actorContext(ctx.actor);
  const raw = (await searchParams).q;
  const query = querySchema.parse(Array.isArray(raw) ? raw[0] : raw) || undefined;
  const all = await listDevices(verbCtx);
  const rows = query ? await listDevices(verbCtx, { query }) : all;
  const canWrite = roleAtLeast(ctx.actor.role, "READ_WRITE");
  const enabled = all.filter((d) => d.status === "ENABLED").length;
  const pending = all.filter((d) => d.status === "PENDING").length;

  return (
    <div className="space-y-5">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <h1 className="text-2xl font-semibold tracking-tight">Devices</h1>
          <p className="text-sm text-slate-500">
            The firewalls enrolled in {ctx.organization!.name}: {plural(enabled, "enabled device")}
            {pending > 0 && `, ${pending} awaiting approval`}.
          </p>
        </div>
        {canWrite && <SyncAll enabled={enabled} organization={ctx.organization!.name} />}
      </div>

      <div className="flex flex-wrap items-end justify-between gap-3">
        <FilterForm action="/devices" label="Search devices" active={!!query} submit="Search">
          <FilterInput id="device-q" name="q" label="Device name" value={query} placeholder="Name contains…" width="w-64" maxLength={DEVICE_NAME_MAX} />
        </FilterForm>
        <p className="text-sm text-slate-600 tabular-nums">
          {query ? `${plural(rows.length, "device")} of ${all.length.toLocaleString("en-US")} match “${query}”` : plural(rows.length, "device")}
        </p>
      </div>

      {!canWrite && <p className="text-sm text-slate-500">Your role is read-only: you can look, not change.</p>}

      <ScrollRegion label="Device list" className="card">
        <table className="w-full text-left text-sm">
          <thead className="border-b border-slate-200 bg-slate-50 text-xs tracking-wide text-slate-500 uppercase">
            <tr>
              {HEADERS.map((h, i) => (
                <th key={h} scope="col" className={`bg-slate-50 px-4 py-2.5 font-semibold whitespace-nowrap ${i === 0 ? "max-md:sticky max-md:left-0" : ""}`}>
                  {h}
                </th>
              ))}
              {canWrite && (
                <th scope="col" className="bg-slate-50 px-4 py-2.5 max-md:sticky max-md:right-0">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {rows.map((d) =>
              canWrite ? (
                <DeviceRow key={d.id} device={{ id: d.id, name: d.name, status: d.status }} columns={HEADERS.length + 1}>
                  <Cells d={d} />
                </DeviceRow>
              ) : (
                <tr key={d.id} className="bg-white hover:bg-slate-50" data-device={d.name}>
                  <Cells d={d} />
                </tr>
              ),
            )}
          </tbody>
        </table>
        {rows.length === 0 && (
          <EmptyState title={query ? `No device name contains “${query}”` : "No devices yet"}>
            {query ? (
              <Link href="/devices" className="text-sky-700 hover:underline">
                Show all devices
              </Link>
            ) : (
              "A device appears here once its agent enrolls with the registration token from Settings."
            )}
          </EmptyState>
        )}
      </ScrollRegion>
    </div>
  );
}
