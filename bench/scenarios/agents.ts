// Agents at work: dispatch latency (one task, one connected agent), throughput (every agent
// answering a flood of tasks at once) and, during the flood, the live channel's latency from
// a result's acknowledgement to a browser client receiving it.
import type { LoadProcess, SeenPatch } from "../lib/load-client";
import { now, sleep, summary, type Summary } from "../lib/stats";

/** Creates one task for agent `i`; answers its code. The time starts before the call. */
export type CreateOne = (i: number) => Promise<string>;

/**
 * When each task reached its agent, as the load process reports it: `reached(code)` answers
 * the moment, at once if it already came; it rejects when the task has not come in 30 s.
 */
async function arrivals(load: LoadProcess) {
  const arrived = new Map<string, number>();
  const waiters = new Map<string, (at: number) => void>();
  const off = load.on((m) => {
    if (m.event !== "task") return;
    const w = waiters.get(m.code as string);
    if (w) w(m.at as number);
    else arrived.set(m.code as string, m.at as number);
  });
  await load.notify(true);
  return {
    has: (code: string) => arrived.has(code),
    async reached(code: string): Promise<number> {
      try {
        return (
          arrived.get(code) ??
          (await new Promise<number>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`task ${code} never reached its agent`)), 30_000);
            waiters.set(code, (t) => {
              clearTimeout(timer);
              resolve(t);
            });
          }))
        );
      } finally {
        arrived.delete(code);
        waiters.delete(code);
      }
    },
    async stop() {
      await load.notify(false);
      off();
    },
  };
}

export async function measureDispatch(load: LoadProcess, create: CreateOne, opts: { samples: number; agents: number }): Promise<{ latency: Summary; create: Summary; samples: number[] }> {
  const tasks = await arrivals(load);
  const latencies: number[] = [];
  const creates: number[] = [];
  try {
    for (let i = 0; i < opts.samples; i++) {
      // Spread over the fleet, never the same agent twice in a row.
      const agent = (i * 7919) % opts.agents;
      const t0 = now();
      const code = await create(agent);
      creates.push(now() - t0);
      latencies.push((await tasks.reached(code)) - t0);
      // Let the agent's ack and result land before the next sample, as in a quiet fleet.
      await sleep(10);
    }
  } finally {
    await tasks.stop();
  }
  return { latency: summary(latencies), create: summary(creates), samples: latencies };
}

/**
 * A wave opening: for each sample, a two-device staged rollout (a canary of one, then a wave
 * that waits for Continue) is issued and its canary left to finish; then the time runs from
 * Continue to the second device's agent receiving its task. `issue` answers the fan-out's
 * code and the second device's task code; `waiting` says whether the next wave waits for
 * Continue; `cont` presses it.
 */
export async function measureWaveOpening(
  load: LoadProcess,
  steps: { issue: (i: number) => Promise<{ fanout: string; second: string }>; waiting: (fanout: string) => Promise<boolean>; cont: (fanout: string) => Promise<void> },
  opts: { samples: number; agents: number },
): Promise<{ latency: Summary; samples: number[] }> {
  const tasks = await arrivals(load);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < opts.samples; i++) {
      const { fanout, second } = await steps.issue((i * 7919) % (opts.agents - 1));
      for (const started = now(); !(await steps.waiting(fanout)); await sleep(5)) {
        if (now() - started > 30_000) throw new Error(`fan-out ${fanout}'s canary never finished`);
      }
      if (tasks.has(second)) throw new Error(`task ${second} reached its agent before its wave opened`);
      const t0 = now();
      await steps.cont(fanout);
      latencies.push((await tasks.reached(second)) - t0);
      await sleep(10);
    }
  } finally {
    await tasks.stop();
  }
  return { latency: summary(latencies), samples: latencies };
}

export type ThroughputFigures = {
  expected: number;
  acked: number;
  received: number;
  duplicates: number;
  errors: Record<string, number>;
  /** Results acknowledged per second, from the first request to the last acknowledgement. */
  endToEnd: number;
  /** The same between the 10th and the 90th percentile of acknowledgements. */
  sustained: number;
  seconds: number;
  issueMs: number;
  live?: LiveFigures;
  /** The live figures over the part of the results `liveOf` chose (e.g. those reported on another node). */
  livePart?: LiveFigures;
};

export type LiveFigures = {
  clients: number;
  latency: Summary;
  /** Share of (client, result) pairs where the task itself was in a patch (else a later truncated patch told the client to re-read). */
  inRows: number;
  missing: number;
  patches: number;
  truncated: number;
  maxPerSecond: number;
  meanPerSecond: number;
  meanBytes?: number;
};

/**
 * Issues `expected` tasks through `issue` and waits until every agent result is acknowledged
 * (or nothing moves for `stallMs`).
 */
export async function measureThroughput(
  load: LoadProcess,
  issue: () => Promise<void>,
  opts: {
    expected: number;
    stallMs?: number;
    live?: LoadProcess;
    /** Chooses, once the run is over, the results whose live latency is also reported apart. */
    liveOf?: (acks: [string, number][]) => Promise<[string, number][]>;
    log: (l: string) => void;
  },
): Promise<ThroughputFigures> {
  await load.resetAgents();
  const t0 = now();
  await issue();
  const issueMs = now() - t0;
  let last = -1;
  let lastMove = now();
  let report = await load.agentReport();
  while (report.acked < opts.expected) {
    await sleep(250);
    report = await load.agentReport();
    if (report.acked !== last) {
      last = report.acked;
      lastMove = now();
    } else if (now() - lastMove > (opts.stallMs ?? 20_000)) {
      opts.log(`  stalled at ${report.acked}/${opts.expected} acknowledged results`);
      break;
    }
  }
  // The last patches trail the last result by up to one coalescing interval.
  await sleep(1_000);
  const full = await load.agentReport(true);
  const times = full.acks.map(([, t]) => t).sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * (times.length - 1)))];
  const seconds = (full.lastAcked - t0) / 1000;
  const figures: ThroughputFigures = {
    expected: opts.expected,
    acked: full.acked,
    received: full.received,
    duplicates: full.duplicates,
    errors: full.errors,
    endToEnd: full.acked / seconds,
    sustained: times.length > 10 ? (0.8 * times.length) / ((at(0.9) - at(0.1)) / 1000) : NaN,
    seconds,
    issueMs,
  };
  if (opts.live) {
    const clients = await opts.live.liveReport();
    figures.live = liveFigures(full.acks, clients, t0);
    if (opts.liveOf) figures.livePart = liveFigures(await opts.liveOf(full.acks), clients, t0);
  }
  return figures;
}

/**
 * For every (client, result): from the result's acknowledgement at the agent to the first
 * patch that tells the client — one listing the task final, or (when the batch was larger
 * than a patch carries) the first truncated patch sent after it, on which the client
 * re-reads. Both processes read the same machine clock.
 */
export function liveFigures(acks: [string, number][], clients: SeenPatch[][], t0: number): LiveFigures {
  const latencies: number[] = [];
  let inRows = 0;
  let missing = 0;
  let patches = 0;
  let truncated = 0;
  let maxPerSecond = 0;
  let perSecondSum = 0;
  for (const list of clients) {
    const byCode = new Map<string, number>();
    for (const p of list) for (const c of p.finals) if (!byCode.has(c)) byCode.set(c, p.receivedAt);
    const trunc = list.filter((p) => p.truncated).sort((a, b) => a.sent - b.sent);
    patches += list.length;
    truncated += trunc.length;
    for (const [code, ackAt] of acks) {
      const direct = byCode.get(code);
      // The first truncated patch the server sent at or after the acknowledgement.
      let lo = 0;
      let hi = trunc.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (trunc[mid].sent >= Math.floor(ackAt)) hi = mid;
        else lo = mid + 1;
      }
      const fallback = lo < trunc.length ? trunc[lo].receivedAt : undefined;
      const seen = Math.min(direct ?? Infinity, fallback ?? Infinity);
      if (seen === Infinity) {
        missing++;
        continue;
      }
      if (direct !== undefined && direct === seen) inRows++;
      latencies.push(Math.max(0, seen - ackAt));
    }
    const buckets = new Map<number, number>();
    for (const p of list) {
      const b = Math.floor((p.receivedAt - t0) / 1000);
      buckets.set(b, (buckets.get(b) ?? 0) + 1);
    }
    maxPerSecond = Math.max(maxPerSecond, ...buckets.values());
    if (list.length) perSecondSum += list.length / Math.max(1, (list[list.length - 1].receivedAt - list[0].receivedAt) / 1000 + 1);
  }
  const pairs = acks.length * clients.length;
  return {
    clients: clients.length,
    latency: summary(latencies),
    inRows: pairs ? inRows / pairs : NaN,
    missing,
    patches,
    truncated,
    maxPerSecond,
    meanPerSecond: clients.length ? perSecondSum / clients.length : NaN,
  };
}
