import Link from "next/link";
import { Fragment } from "react";

/** Where a page sits: links to the pages above it, then its own name. */
export function Breadcrumb({ trail, current }: { trail: { href: string; label: string }[]; current: React.ReactNode }) {
  return (
    <nav aria-label="Breadcrumb" className="text-sm text-slate-500">
      {trail.map((t) => (
        <Fragment key={t.href}>
          <Link href={t.href} className="hover:underline">
            {t.label}
          </Link>{" "}
          /{" "}
        </Fragment>
      ))}
      {current}
    </nav>
  );
}
