// Small, dependency-free statistics for the benchmark's samples.

/** The p-th percentile (0–100) by the nearest-rank method; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (!samples.length) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export const median = (samples: readonly number[]) => percentile(samples, 50);

export function summary(samples: readonly number[]) {
  const sorted = Float64Array.from(samples).sort();
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] : NaN);
  return {
    n: sorted.length,
    p50: at(50),
    p95: at(95),
    p99: at(99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
    mean: sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : NaN,
  };
}
export type Summary = ReturnType<typeof summary>;

/**
 * Milliseconds on the machine's monotonic clock, with sub-millisecond precision: the same
 * clock in every process (`performance.timeOrigin + performance.now()` is not: each process
 * fixes its origin from the wall clock when it starts, and a wall clock being adjusted put
 * the bench's and the load processes' 50–130 ms apart).
 */
export const now = () => Number(process.hrtime.bigint()) / 1e6;

/** A wall-clock time (a server's `Date`, in ms) on the clock of `now()`, as the two stand at this moment. */
export const fromWallClock = (ms: number) => ms - Date.now() + now();

export const round = (n: number, digits = 1) => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
