"use client";

import { useRouter } from "next/navigation";
import { LiveIndicator, useLive } from "@/app/_lib/use-live";
import { useAutoRefresh } from "@/app/_lib/use-auto-refresh";

const WATCH = { org: true } as const;

/**
 * Keeps a schedule's page current: a new run (issued or skipped) and every change of its
 * runs' fan-outs re-read the page, at most as often as the live channel sends (5 a second).
 */
export function ScheduleLive({ id, fanouts, scope, since }: { id: number; fanouts: string[]; scope: string; since: number }) {
  const router = useRouter();
  const [autoRefresh] = useAutoRefresh();
  const mine = new Set(fanouts);
  const state = useLive({
    watch: WATCH,
    enabled: autoRefresh,
    scope,
    since,
    onPatch: (p) => {
      if (p.fanouts.some((f) => mine.has(f.code))) router.refresh();
    },
    onCatchUp: () => router.refresh(),
    onSignal: (s) => {
      if (s.topic === "schedule" && s.id === id) router.refresh();
    },
  });
  return <LiveIndicator state={state} />;
}
