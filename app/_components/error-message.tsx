"use client";

import Link from "next/link";

/**
 * What a page says when the server could not finish it (the database out of reach, most
 * often): no detail of the failure, which the server's log keeps under the reference shown.
 */
export function ErrorMessage({ error, retry }: { error: Error & { digest?: string }; retry: () => void }) {
  return (
    <div role="alert" className="py-16 text-center">
      <h1 className="text-lg font-semibold">This page could not be loaded.</h1>
      <p className="mx-auto mt-1 max-w-prose text-sm text-slate-600">
        The server could not finish it, most often because its database was out of reach for a moment. Nothing was changed. Try again; if it keeps failing, the server&rsquo;s log has the details.
      </p>
      {error.digest && <p className="mt-2 text-xs text-slate-600">Reference: <span className="font-mono">{error.digest}</span></p>}
      <div className="mt-4 flex justify-center gap-3">
        <button type="button" className="btn" onClick={retry}>
          Try again
        </button>
        <Link href="/tasks" className="btn">
          Back to the tasks
        </Link>
      </div>
    </div>
  );
}
