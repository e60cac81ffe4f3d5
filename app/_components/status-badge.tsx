import type { TaskStatus } from "@/rules/tasks";
import type { DeviceStatus } from "@/rules/devices";

const TASK_STYLES: Record<TaskStatus, string> = {
  SCHEDULED: "bg-violet-50 text-violet-800 ring-violet-600/25",
  PENDING: "bg-amber-50 text-amber-800 ring-amber-600/30",
  IN_PROGRESS: "bg-sky-50 text-sky-800 ring-sky-600/30",
  COMPLETED: "bg-emerald-50 text-emerald-800 ring-emerald-600/30",
  FAILED: "bg-rose-50 text-rose-800 ring-rose-600/30",
  CANCELLED: "bg-slate-100 text-slate-700 ring-slate-500/30",
  EXPIRED: "bg-orange-50 text-orange-800 ring-orange-600/30",
};

const TASK_DOTS: Record<TaskStatus, string> = {
  SCHEDULED: "bg-violet-500",
  PENDING: "bg-amber-500",
  IN_PROGRESS: "bg-sky-500 animate-pulse",
  COMPLETED: "bg-emerald-500",
  FAILED: "bg-rose-500",
  CANCELLED: "bg-slate-400",
  EXPIRED: "bg-orange-500",
};

/** Bar colours for fan-out progress, in the badge's hue. */
export const STATUS_BAR: Record<TaskStatus, string> = {
  SCHEDULED: "bg-violet-400",
  PENDING: "bg-amber-400",
  IN_PROGRESS: "bg-sky-500",
  COMPLETED: "bg-emerald-500",
  FAILED: "bg-rose-500",
  CANCELLED: "bg-slate-400",
  EXPIRED: "bg-orange-500",
};

/** The same colours as SVG fills, for the bar itself (drawn in SVG: no inline styles under the CSP). */
export const STATUS_FILL: Record<TaskStatus, string> = {
  SCHEDULED: "fill-violet-400",
  PENDING: "fill-amber-400",
  IN_PROGRESS: "fill-sky-500",
  COMPLETED: "fill-emerald-500",
  FAILED: "fill-rose-500",
  CANCELLED: "fill-slate-400",
  EXPIRED: "fill-orange-500",
};

const DEVICE_STYLES: Record<DeviceStatus, string> = {
  PENDING: "bg-amber-50 text-amber-800 ring-amber-600/30",
  ENABLED: "bg-emerald-50 text-emerald-800 ring-emerald-600/30",
  DISABLED: "bg-slate-100 text-slate-700 ring-slate-500/30",
};

const base = "inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-semibold ring-1 ring-inset whitespace-nowrap";

export function StatusBadge({ status, size = "sm" }: { status: TaskStatus; size?: "sm" | "lg" }) {
  return (
    <span className={`${base} ${TASK_STYLES[status]} ${size === "lg" ? "px-3 py-1 text-sm" : ""}`} data-status={status}>
      <span aria-hidden className={`size-1.5 rounded-full ${TASK_DOTS[status]}`} />
      {status}
    </span>
  );
}

export function DeviceStatusBadge({ status }: { status: DeviceStatus }) {
  return <span className={`${base} ${DEVICE_STYLES[status]}`}>{status}</span>;
}
