// The rollout rules: how a fan-out's devices are split into waves, how many of its tasks may
// be out at once, what happens between two waves, and when its breaker stops it. The issue
// schemas (lib/tasks/schemas.ts, lib/api/schemas.ts), the driver (lib/tasks/rollout.ts) and
// the pages derive from here.
//
// Every task of every wave exists from the start (the fan-out is written all or nothing). A
// task whose wave has not opened is SCHEDULED with no scheduled time and its wave's number:
// the clock never fires it (it fires SCHEDULED tasks whose time has come), and the driver
// moves it to PENDING (the transition the clock makes, SCHEDULED → PENDING) when its wave
// opens and there is room in flight, with its expiry counted from that moment. No status and
// no transition is added for it; docs/architecture.md has the table.

/** A wave's size: a number of devices, or a percentage of the fan-out's devices (rounded up). */
export type WaveSize = { count: number } | { percent: number };

/** What happens when a wave has finished: the next opens at once, after a pause, or when an admin presses Continue. */
export type BetweenWaves = { kind: "now" } | { kind: "minutes"; minutes: number } | { kind: "continue" };

/** The breaker: trips when more than `failedPercent` of the tasks that ran (COMPLETED or FAILED) failed, once at least `minFinished` ran. */
export type Breaker = { failedPercent: number; minFinished: number };

export type RolloutPolicy = {
  /** The first wave, alone, when set. */
  canary: WaveSize | null;
  /** The waves after the canary, in order; the last one repeats until every device has its wave. */
  waves: WaveSize[];
  /** At most this many of the fan-out's tasks PENDING or IN_PROGRESS at once. */
  maxInFlight: number | null;
  between: BetweenWaves;
  breaker: Breaker | null;
};

/** The bounds a policy is checked against. */
export const ROLLOUT_LIMITS = {
  /** A fan-out of 100,000 devices in waves of 1 is not a rollout anyone can watch. */
  maxWaves: 500,
  maxPauseMinutes: 7 * 24 * 60,
  maxInFlight: 100_000,
} as const;

export const ROLLOUT_PRESETS = ["all-at-once", "canary", "careful"] as const;
export type RolloutPreset = (typeof ROLLOUT_PRESETS)[number];

/** Whether a saved rollout is a preset's name (the API takes a name or a policy). */
export const isRolloutPreset = (v: unknown): v is RolloutPreset => typeof v === "string" && (ROLLOUT_PRESETS as readonly string[]).includes(v);

/** The form's and the API's named policies; "all-at-once" is no policy (today's behaviour). */
export const ROLLOUT_PRESET_POLICIES: Record<RolloutPreset, RolloutPolicy | null> = {
  "all-at-once": null,
  canary: { canary: { count: 1 }, waves: [{ percent: 10 }], maxInFlight: null, between: { kind: "now" }, breaker: null },
  careful: {
    canary: { count: 1 },
    waves: [{ percent: 5 }, { percent: 25 }, { percent: 100 }],
    maxInFlight: null,
    between: { kind: "now" },
    breaker: { failedPercent: 5, minFinished: 1 },
  },
};

export const ROLLOUT_PRESET_LABELS: Record<RolloutPreset, string> = {
  "all-at-once": "All at once",
  canary: "Canary 1, then waves of 10%",
  careful: "Careful: 1, 5%, 25%, the rest; stop at 5% failures",
};

/** How many devices a size takes of `total`. */
export function devicesOf(size: WaveSize, total: number): number {
  return "count" in size ? size.count : Math.max(1, Math.ceil((total * size.percent) / 100));
}

/** The size of each wave, in order, for a fan-out of `total` devices; every device is in exactly one. */
export function planWaves(policy: RolloutPolicy, total: number): number[] {
  const sizes: number[] = [];
  let left = total;
  const take = (size: WaveSize) => {
    const n = Math.min(left, devicesOf(size, total));
    sizes.push(n);
    left -= n;
  };
  if (policy.canary && left > 0) take(policy.canary);
  for (let i = 0; left > 0 && sizes.length <= ROLLOUT_LIMITS.maxWaves; i++) take(policy.waves[Math.min(i, policy.waves.length - 1)] ?? { percent: 100 });
  return sizes;
}

/**
 * Why a policy cannot be applied to `total` devices, by field (the API's names), or null.
 * The shape and ranges are the schemas'; these depend on the target.
 */
export function policyProblems(policy: RolloutPolicy, total: number): Record<string, string> | null {
  const problems: Record<string, string> = {};
  const tooLarge = (field: string, label: string, size: WaveSize) => {
    if ("count" in size && size.count > total) problems[field] = `${label}: ${size.count} devices is more than the target's ${total}`;
  };
  if (policy.canary) tooLarge("rollout.canary", "The canary", policy.canary);
  policy.waves.forEach((w, i) => (policy.waves.length > 1 ? tooLarge(`rollout.waves.${i}`, `Wave size ${i + 1}`, w) : tooLarge("rollout.waves", "A wave", w)));
  if (policy.breaker && policy.breaker.minFinished > total) {
    problems["rollout.breaker.min_finished"] = `The breaker's minimum: ${policy.breaker.minFinished} finished tasks is more than the target's ${total} devices`;
  }
  if (!Object.keys(problems).length && planWaves(policy, total).length > ROLLOUT_LIMITS.maxWaves) {
    problems["rollout.waves"] = `The waves: this makes more than ${ROLLOUT_LIMITS.maxWaves} waves of ${total} devices; make them larger`;
  }
  return Object.keys(problems).length ? problems : null;
}

/**
 * A rollout's policy for a smaller target (a retry of its failed devices): a count larger than
 * the target is the target, and the breaker waits for no more finished tasks than there are.
 */
export function policyWithin(policy: RolloutPolicy, total: number): RolloutPolicy {
  const within = (size: WaveSize): WaveSize => ("count" in size ? { count: Math.max(1, Math.min(size.count, total)) } : size);
  return {
    ...policy,
    canary: policy.canary && within(policy.canary),
    waves: policy.waves.map(within),
    breaker: policy.breaker && { ...policy.breaker, minFinished: Math.max(1, Math.min(policy.breaker.minFinished, total)) },
  };
}

/** What the breaker counts: tasks that ran since the fan-out was last resumed. */
export type BreakerTally = { finished: number; failed: number };

/** Whether the breaker trips: more than its share failed, once enough ran. */
export function breakerTrips(breaker: Breaker, t: BreakerTally): boolean {
  return t.finished >= breaker.minFinished && t.failed * 100 > breaker.failedPercent * t.finished;
}

/** The pause reason a tripped breaker writes: on the fan-out's page, in the list and in the live stream. */
export function breakerReason(breaker: Breaker, t: BreakerTally): string {
  return `Stopped by its breaker: ${t.failed} of ${t.finished} finished tasks failed, more than ${breaker.failedPercent}%`;
}

export const WAVE_STATES = ["running", "waiting", "awaiting_continue", "done"] as const;
export type WaveState = (typeof WAVE_STATES)[number];

/** Where a rollout stands, from its row: the open wave runs, or has finished and the next waits (for a time or for Continue), or the last has finished. */
export function waveState(r: { wave: number; waves: number; waveFinishedAt: Date | null }, between: BetweenWaves): WaveState {
  if (!r.waveFinishedAt) return "running";
  if (r.wave >= r.waves) return "done";
  if (between.kind === "continue") return "awaiting_continue";
  return "waiting";
}

/** Each wave of a rollout, as its page lists them: finished, open now, or not opened yet. */
export type WaveProgress = "done" | "open" | "waiting";

/** Where wave `n` stands, from the rollout's row: waves before the open one have finished, and the open one once its end is recorded. */
export function waveProgress(n: number, r: { wave: number; waveFinishedAt: Date | null }): WaveProgress {
  if (n < r.wave || (n === r.wave && r.waveFinishedAt)) return "done";
  return n === r.wave ? "open" : "waiting";
}

/** When the next wave opens by itself: the open wave's end plus the pause; null if it waits for Continue or nothing. */
export function nextWaveAt(r: { wave: number; waves: number; waveFinishedAt: Date | null }, between: BetweenWaves): Date | null {
  if (!r.waveFinishedAt || r.wave >= r.waves || between.kind === "continue") return null;
  return new Date(r.waveFinishedAt.getTime() + (between.kind === "minutes" ? between.minutes * 60_000 : 0));
}

/** Where a rollout stands, in a few words, for the list, the live stream and the page: "Wave 3 of 5", "Wave 2 of 5 done; waiting for Continue". */
export function waveLine(r: { wave: number; waves: number; state: WaveState }): string {
  switch (r.state) {
    case "running":
      return `Wave ${r.wave} of ${r.waves}`;
    case "awaiting_continue":
      return `Wave ${r.wave} of ${r.waves} done; waiting for Continue`;
    case "waiting":
      return `Wave ${r.wave} of ${r.waves} done; pausing before the next`;
    case "done":
      return `${r.waves === 1 ? "Its one wave" : `All ${r.waves} waves`} opened`;
  }
}

/** A task's place in its rollout, where its scheduled time would be: "wave 3 of 5". */
export const waveOf = (wave: number, waves: number) => `wave ${wave} of ${waves}`;

/** "1", "5%": a size as the form and the API write it. */
export const sizeLabel = (s: WaveSize) => ("count" in s ? String(s.count) : `${s.percent}%`);

const isRest = (s: WaveSize) => "percent" in s && s.percent === 100;

/** The waves after the canary in words: "the rest", "waves of 10%", "waves of 5%, 25%, the rest". */
function wavesLabel(p: RolloutPolicy): string {
  if (p.waves.length === 1 && isRest(p.waves[0])) return p.canary ? "the rest" : "all at once";
  return `waves of ${p.waves.map((w) => (isRest(w) ? "the rest" : sizeLabel(w))).join(", ")}`;
}

/** A policy in a line: "canary 1, then 5%, 25%, 100% (the last repeats); 10 in flight; Continue between waves; stops at 5% failed after 1". */
export function policySummary(p: RolloutPolicy): string {
  const parts = [
    [p.canary ? `canary ${sizeLabel(p.canary)}` : null, wavesLabel(p)].filter(Boolean).join(", then "),
    p.maxInFlight ? `at most ${p.maxInFlight} in flight` : null,
    p.between.kind === "continue" ? "each wave waits for Continue" : p.between.kind === "minutes" ? `${p.between.minutes} min between waves` : null,
    p.breaker ? `stops when more than ${p.breaker.failedPercent}% fail (after ${p.breaker.minFinished} finished)` : null,
  ];
  return parts.filter(Boolean).join("; ");
}
