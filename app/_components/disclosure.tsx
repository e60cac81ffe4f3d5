/** A card that opens to show a form (Issue task, New schedule): closed until asked for. */
export function Disclosure({ id, title, children }: { id: string; title: string; children: React.ReactNode }) {
  return (
    <details className="card group" id={id}>
      <summary className="flex cursor-pointer list-none items-center justify-between px-4 py-3 text-sm font-semibold text-slate-800 marker:hidden">
        <span>{title}</span>
        <span aria-hidden className="text-slate-400 group-open:rotate-180">
          ▾
        </span>
      </summary>
      <div className="border-t border-slate-100">{children}</div>
    </details>
  );
}
