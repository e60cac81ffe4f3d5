"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";
import { FanoutProgress } from "@/app/_components/fanout-progress";
import { fanoutDone, fanoutPace } from "@/app/_components/live-fanouts";
import { useNow } from "@/app/_components/relative-time";
import { LiveIndicator, useLive } from "@/app/_lib/use-live";
import type { LiveFanout } from "@/lib/live/protocol";

/** One fan-out's progress, patched live from its own stream until it is done. */
export function FanoutLive({ initial }: { initial: LiveFanout }) {
  const router = useRouter();
  const [fanout, setFanout] = useState(initial);
  const [seen, setSeen] = useState(initial);
  if (seen !== initial) {
    setSeen(initial);
    setFanout(initial);
  }
  const done = fanoutDone(fanout) === fanout.total;
  const now = useNow();
  const state = useLive({
    watch: { fanout: fanout.code },
    enabled: !done,
    onPatch: (p) => {
      const mine = p.fanouts.find((f) => f.code === fanout.code);
      if (mine) setFanout(mine);
    },
    onCatchUp: () => router.refresh(),
  });
  return (
    <div className="space-y-2">
      <div className="flex justify-end">{done ? <span className="text-xs text-slate-500">Finished · no further updates</span> : <LiveIndicator state={state} />}</div>
      <FanoutProgress fanout={fanout} pace={now === null ? null : fanoutPace(fanout, now)} />
    </div>
  );
}
