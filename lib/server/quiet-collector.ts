import { performance } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { metrics } from "./metrics";

/**
 * Gives back the memory a burst left behind, once the process is quiet again.
 *
 * A result storm, a fan-out of 100,000 tasks or a fleet reconnecting makes V8 grow its heap
 * to hold the garbage it makes, and V8 keeps what it grew: after such a burst the server held
 * 310 MB of heap for 70 MB of live objects, and kept it for as long as nothing made it
 * collect (docs/performance.md, "Memory a burst leaves behind"). Node gives V8 no signal that
 * the process has gone idle, so this watches for it: when the event loop has been nearly idle
 * for a minute and the heap holds at least twice what was live after the last collection
 * (and 64 MB more), it runs one full collection, which returns the empty pages to the
 * system. Its pause (about 0.1 s) lands on a loop that has been quiet for a minute: after
 * 10 s it landed, in the benchmark, on the clock's batch falling due and on the purge's
 * start, work that comes after a quiet stretch.
 */
export const QUIET_RULE = {
  /** A second counts as quiet when the loop was busy less than this share of it. */
  utilization: 0.1,
  /** Quiet seconds in a row before a collection. */
  seconds: 60,
  /** The heap must hold at least this much beyond what was live after the last collection. */
  growthBytes: 64 * 1024 * 1024,
};

export type QuietState = { quietSeconds: number; committedBytes: number; liveBytes: number };

/** Whether the heap has grown enough past its live objects, on a loop quiet long enough, to collect. */
export function shouldCollect(s: QuietState, rule = QUIET_RULE): boolean {
  return s.quietSeconds >= rule.seconds && s.committedBytes >= s.liveBytes + Math.max(rule.growthBytes, s.liveBytes);
}

/** V8's full collection, made available to the caller alone: the flag is set for the one context that hands it over, then cleared. */
export function v8Gc(): () => void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  setFlagsFromString("--no-expose-gc");
  return gc;
}

/**
 * Starts watching, a sample a second (the timer never keeps the process alive); collects
 * with V8's own `gc` (v8Gc).
 */
export function startQuietCollector(rule = QUIET_RULE): { stop: () => void } {
  const gc = v8Gc();
  let liveBytes = getHeapStatistics().used_heap_size;
  let quietSeconds = 0;
  let last = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    quietSeconds = performance.eventLoopUtilization(now, last).utilization < rule.utilization ? quietSeconds + 1 : 0;
    last = now;
    if (!shouldCollect({ quietSeconds, committedBytes: getHeapStatistics().total_heap_size, liveBytes }, rule)) return;
    gc();
    liveBytes = getHeapStatistics().used_heap_size;
    quietSeconds = 0;
    metrics().quietCollections.inc();
  }, 1_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
