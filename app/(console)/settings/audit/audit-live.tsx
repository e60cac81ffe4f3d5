"use client";

import { useRouter } from "next/navigation";
import { LiveIndicator, useLive } from "@/app/_lib/use-live";
import { useAutoRefresh } from "@/app/_lib/use-auto-refresh";

const WATCH = { audit: true } as const;

/** The audit page re-reads itself when the server says new rows are there (at most five times a second). */
export function AuditLive({ renderId, since, scope }: { renderId: string; since: number; scope: string }) {
  const router = useRouter();
  const [autoRefresh] = useAutoRefresh();
  const state = useLive({ watch: WATCH, enabled: autoRefresh, scope, since, onPatch: () => {}, onCatchUp: () => router.refresh(), onSignal: () => router.refresh() });
  return <LiveIndicator key={renderId} state={state} />;
}
