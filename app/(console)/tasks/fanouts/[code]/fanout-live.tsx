"use client";

import { useRouter } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import { FanoutProgress } from "@/app/_components/fanout-progress";
import { fanoutDone, fanoutPace } from "@/app/_components/live-fanouts";
import { useNow } from "@/app/_components/relative-time";
import { LiveIndicator, useLive } from "@/app/_lib/use-live";
import type { LiveFanout } from "@/lib/live/protocol";

/** The rest of the page (failure groups, offline devices, durations) is read again at most this often while patches arrive. */
const REREAD_MS = 1_000;

/**
 * One fan-out's progress, patched live from its own stream until it is done. Each patch
 * moves the bar at once; the server-rendered rest of the page is re-read behind it, at most
 * once a second, and once more when the fan-out ends.
 */
export function FanoutLive({ initial, since, offline }: { initial: LiveFanout; since: number; offline: number }) {
  const router = useRouter();
  // What is shown, and when the server began reading it.
  const [live, setLive] = useState({ fanout: initial, at: since });
  const [seen, setSeen] = useState(initial);
  // A new server render is the truth from then on, unless a patch read after it got here first.
  if (seen !== initial) {
    setSeen(initial);
    if (live.at <= since) setLive({ fanout: initial, at: since });
  }
  const { fanout } = live;
  const done = fanoutDone(fanout) === fanout.total;
  const now = useNow();
  const reread = useRef<{ timer: ReturnType<typeof setTimeout> | null; last: number }>({ timer: null, last: 0 });
  useEffect(() => {
    const r = reread.current;
    return () => {
      if (r.timer) clearTimeout(r.timer);
    };
  }, []);
  const scheduleReread = () => {
    const r = reread.current;
    if (r.timer) return;
    const wait = Math.max(0, r.last + REREAD_MS - Date.now());
    r.timer = setTimeout(() => {
      r.timer = null;
      r.last = Date.now();
      router.refresh();
    }, wait);
  };
  const state = useLive({
    watch: { fanout: fanout.code },
    enabled: !done,
    since,
    onPatch: (p) => {
      const mine = p.fanouts.find((f) => f.code === fanout.code);
      if (mine) {
        setLive({ fanout: mine, at: Date.parse(p.at) });
        scheduleReread();
      }
    },
    onCatchUp: () => router.refresh(),
  });
  return (
    <div className="space-y-2">
      <div className="flex justify-end">{done ? <span className="text-xs text-slate-500">Finished · no further updates</span> : <LiveIndicator state={state} />}</div>
      <FanoutProgress fanout={fanout} pace={now === null ? null : fanoutPace(fanout, now, offline)} />
    </div>
  );
}
