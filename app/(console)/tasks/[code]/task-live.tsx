"use client";

import { useRouter } from "next/navigation";
import { LiveIndicator, useLive } from "@/app/_lib/use-live";

/**
 * Keeps the detail page true while the task moves: each coalesced change re-renders the
 * page on the server (badge, timestamps, message, actions). The subscription ends once the
 * task is final, since nothing about it can change any more.
 */
export function TaskLive({ code, final }: { code: string; final: boolean }) {
  const router = useRouter();
  const state = useLive({ watch: { task: code }, enabled: !final, onPatch: () => router.refresh(), onCatchUp: () => router.refresh() });
  if (final) return <span className="text-xs text-slate-500">Finished · no further updates</span>;
  return <LiveIndicator state={state} />;
}
