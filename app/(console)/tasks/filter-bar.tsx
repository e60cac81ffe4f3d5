import Link from "next/link";
import { TASK_STATUSES, TASK_TYPES } from "@/lib/tasks/constants";

/** A plain GET form: filters live in the URL, Enter applies, and it works without JavaScript. */
export function FilterBar({ filter }: { filter: { device?: string; type?: string; status?: string; fanout?: string } }) {
  const active = Object.values(filter).some(Boolean);
  return (
    <form method="get" action="/tasks" role="search" aria-label="Filter tasks" className="flex flex-wrap items-end gap-3">
      <div className="w-64">
        <label htmlFor="filter-device" className="label">
          Device
        </label>
        <input id="filter-device" name="device" type="search" defaultValue={filter.device ?? ""} placeholder="Name contains…" className="input" maxLength={64} />
      </div>
      <div className="w-48">
        <label htmlFor="filter-type" className="label">
          Type
        </label>
        <select id="filter-type" name="type" defaultValue={filter.type ?? ""} className="input">
          <option value="">All types</option>
          {TASK_TYPES.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
      </div>
      <div className="w-44">
        <label htmlFor="filter-status" className="label">
          Status
        </label>
        <select id="filter-status" name="status" defaultValue={filter.status ?? ""} className="input">
          <option value="">All statuses</option>
          {TASK_STATUSES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </div>
      {filter.fanout && <input type="hidden" name="fanout" value={filter.fanout} />}
      <button type="submit" className="btn btn-primary">
        Filter
      </button>
      {active && (
        <Link href="/tasks" className="btn">
          Clear
        </Link>
      )}
    </form>
  );
}
