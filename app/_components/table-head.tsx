const theadClass = "border-b border-slate-200 bg-slate-50 text-xs tracking-wide text-slate-600 uppercase";

/** A table's header row; `actions` adds the (visually unlabelled) column of buttons. */
export function TableHead({ columns, actions = false }: { columns: string[]; actions?: boolean }) {
  return (
    <thead className={theadClass}>
      <tr>
        {[...columns, ...(actions ? [""] : [])].map((c) => (
          <th key={c || "actions"} scope="col" className="px-4 py-2.5 font-semibold whitespace-nowrap">
            {c || <span className="sr-only">Actions</span>}
          </th>
        ))}
      </tr>
    </thead>
  );
}
