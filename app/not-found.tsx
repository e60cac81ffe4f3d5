import type { Metadata } from "next";
import { NotFoundMessage } from "./_components/not-found-message";

export const metadata: Metadata = { title: "Not found" };

// An address that matches no page. Next's own page styles itself with inline style
// attributes, which the CSP refuses.
export default function NotFound() {
  return (
    <main className="grid min-h-screen place-items-center px-4">
      <NotFoundMessage />
    </main>
  );
}
