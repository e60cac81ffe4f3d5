import { FilterForm, FilterInput, FilterSelect } from "@/app/_components/filter-form";
import { TASK_STATUSES, TASK_TYPES } from "@/rules/tasks";

/** The task list's filters, in the URL. */
export function FilterBar({ filter }: { filter: { device?: string; type?: string; status?: string; fanout?: string } }) {
  return (
    <FilterForm action="/tasks" label="Filter tasks" active={Object.values(filter).some(Boolean)}>
      <FilterInput id="filter-device" name="device" label="Device" value={filter.device} placeholder="Name contains…" width="w-64" maxLength={64} />
      <FilterSelect name="type" label="Type" all="All types" options={TASK_TYPES} value={filter.type} width="w-48" />
      <FilterSelect name="status" label="Status" all="All statuses" options={TASK_STATUSES} value={filter.status} width="w-44" />
      {filter.fanout && <input type="hidden" name="fanout" value={filter.fanout} />}
    </FilterForm>
  );
}
