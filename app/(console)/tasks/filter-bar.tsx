import Link from "next/link";
import { TASK_STATUSES, TASK_TYPES } from "@/rules/tasks";

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
      <FilterSelect name="type" label="Type" all="All types" options={TASK_TYPES} value={filter.type} width="w-48" />
      <FilterSelect name="status" label="Status" all="All statuses" options={TASK_STATUSES} value={filter.status} width="w-44" />
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

function FilterSelect({ name, label, all, options, value, width }: { name: string; label: string; all: string; options: readonly string[]; value?: string; width: string }) {
  return (
    <div className={width}>
      <label htmlFor={`filter-${name}`} className="label">
        {label}
      </label>
      <select id={`filter-${name}`} name={name} defaultValue={value ?? ""} className="input">
        <option value="">{all}</option>
        {options.map((o) => (
          <option key={o}>{o}</option>
        ))}
      </select>
    </div>
  );
}
