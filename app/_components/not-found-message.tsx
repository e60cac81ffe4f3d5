import Link from "next/link";

/** What a missing page says, inside the console or on its own. */
export function NotFoundMessage() {
  return (
    <div className="py-16 text-center">
      <p className="text-5xl font-semibold text-slate-700">404</p>
      <h1 className="mt-2 text-lg font-semibold">This page could not be found.</h1>
      <p className="mt-1 text-sm text-slate-600">It may belong to another organization, or it never existed.</p>
      <Link href="/tasks" className="btn mt-4">
        Back to the tasks
      </Link>
    </div>
  );
}
