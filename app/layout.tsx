import type { Metadata } from "next";
import { connection } from "next/server";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Taskwire", template: "%s · Taskwire" },
  description: "The task console of a managed firewall fleet",
};

export default async function RootLayout({ children }: { children: React.ReactNode }) {
  // Every page renders per request, the not-found page included: its scripts carry that
  // request's CSP nonce (lib/server/request-guard.ts), which a page built ahead cannot know.
  await connection();
  return (
    <html lang="en">
      <body className="min-h-screen bg-slate-50 font-sans text-slate-900 antialiased">{children}</body>
    </html>
  );
}
