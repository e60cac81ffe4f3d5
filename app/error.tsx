"use client";

import { ErrorMessage } from "./_components/error-message";

// A page the server could not finish, the console's frame included (its session could not be
// read). Next's own page styles itself with inline style attributes, which the CSP refuses.
export default function RootError(props: { error: Error & { digest?: string }; retry: () => void }) {
  return (
    <main className="grid min-h-screen place-items-center px-4">
      <ErrorMessage {...props} />
    </main>
  );
}
