import Link from "next/link";

// A list's filters as a plain GET form: they live in the URL, Enter applies, and it works
// without JavaScript. One shape for every list (tasks, devices, the audit trail).

export function FilterForm({ action, label, active, submit = "Filter", children }: { action: string; label: string; active: boolean; submit?: string; children: React.ReactNode }) {
  return (
    <form method="get" action={action} role="search" aria-label={label} className="flex flex-wrap items-end gap-3">
      {children}
      <button type="submit" className="btn btn-primary">
        {submit}
      </button>
      {active && (
        <Link href={action} className="btn">
          Clear
        </Link>
      )}
    </form>
  );
}

/** A labelled text (or date) field of a filter form. */
export function FilterInput(p: { id: string; name: string; label: string; value?: string; placeholder?: string; type?: "search" | "date"; width: string; maxLength?: number }) {
  return (
    <div className={p.width}>
      <label htmlFor={p.id} className="label">
        {p.label}
      </label>
      <input id={p.id} name={p.name} type={p.type ?? "search"} defaultValue={p.value ?? ""} placeholder={p.placeholder} className="input" maxLength={p.maxLength} />
    </div>
  );
}

/** A labelled select of a filter form: "all" first, then the options (plain values, or groups of [value, label]). */
export function FilterSelect(p: {
  name: string;
  label: string;
  all: string;
  options: readonly string[] | { group: string; options: [string, string][] }[];
  value?: string;
  width: string;
  invalid?: boolean;
}) {
  return (
    <div className={p.width}>
      <label htmlFor={`filter-${p.name}`} className="label">
        {p.label}
      </label>
      <select id={`filter-${p.name}`} name={p.name} defaultValue={p.value ?? ""} className="input" aria-invalid={p.invalid || undefined}>
        <option value="">{p.all}</option>
        {p.options.map((o) =>
          typeof o === "string" ? (
            <option key={o}>{o}</option>
          ) : (
            <optgroup key={o.group} label={o.group}>
              {o.options.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </optgroup>
          ),
        )}
      </select>
    </div>
  );
}
