// What one run measures, at full size or --quick. Every figure of the issue has a size here.

export type Sizes = {
  name: "full" | "quick";
  /** ENABLED devices of the benchmark organization, each with an agent token. */
  devices: number;
  /** Tasks of the small and the large database (the list's growth is measured between them). */
  smallTasks: number;
  largeTasks: number;
  /** Sequential requests per list variant (p50, p95). */
  listSamples: number;
  /** Schedules due in one minute. */
  schedules: number;
  /** The purge's first stretch measured alone (the loop), before the list is read meanwhile. */
  purgeAloneMs: number;
  /** POSTs of a fan-out to every device (the median is reported). */
  fanoutRuns: number;
  /** Tasks of the one fan-out the cockpit is measured on (in the large database). */
  cockpitTasks: number;
  /** ENABLED devices of a second organization, for one fan-out to all of them; 0: none. */
  wideDevices: number;
  /** Agents connected for dispatch latency and throughput. */
  agents: number;
  dispatchSamples: number;
  /** Tasks issued for the throughput run: agents × fan-outs. */
  throughputTasks: number;
  liveClients: number;
  /** Agents connected at once in the connections scenario. */
  connections: number;
  /** Heartbeats of that many agents are spread over this window. */
  heartbeatWindowMs: number;
  /** Agents of the many-agents scenario (an organization of their own), and per load process. */
  manyAgents: number;
  manyPerProcess: number;
  manyHeartbeatWindowMs: number;
};

export const FULL: Sizes = {
  name: "full",
  devices: 10_000,
  smallTasks: 10_000,
  largeTasks: 1_000_000,
  listSamples: 200,
  schedules: 1_000,
  purgeAloneMs: 10_000,
  fanoutRuns: 5,
  cockpitTasks: 100_000,
  wideDevices: 100_000,
  agents: 1_000,
  dispatchSamples: 200,
  throughputTasks: 20_000,
  liveClients: 20,
  connections: 10_000,
  heartbeatWindowMs: 20_000,
  manyAgents: 50_000,
  manyPerProcess: 10_000,
  manyHeartbeatWindowMs: 30_000,
};

export const QUICK: Sizes = {
  name: "quick",
  devices: 2_000,
  smallTasks: 10_000,
  largeTasks: 100_000,
  listSamples: 100,
  schedules: 200,
  // The quick history is purged in 3–4 s: a second alone leaves the rest for the list.
  purgeAloneMs: 1_000,
  fanoutRuns: 3,
  cockpitTasks: 10_000,
  wideDevices: 0,
  agents: 200,
  dispatchSamples: 100,
  throughputTasks: 2_000,
  liveClients: 20,
  connections: 2_000,
  heartbeatWindowMs: 2_000,
  manyAgents: 4_000,
  manyPerProcess: 2_000,
  manyHeartbeatWindowMs: 4_000,
};
