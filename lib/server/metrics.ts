import client from "prom-client";
import { TASK_STATUSES } from "../../rules/tasks";

// GET /metrics in Prometheus' text format (prom-client). One registry per process, on
// globalThis like the database and the event bus: the Next bundle and server.ts share it.
// Every series carries the node's id, so several nodes scrape apart.

export type Metrics = ReturnType<typeof create>;

const KEY = Symbol.for("taskwire.metrics");

function create() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const transitions = new client.Counter({
    name: "taskwire_task_transitions_total",
    help: "Task status changes made on this node, by the status reached (created tasks count as reaching their first)",
    labelNames: ["to"] as const,
    registers: [registry],
  });
  // Every status shows from the start, at 0: a rate over a fresh counter needs a first sample.
  for (const to of TASK_STATUSES) transitions.inc({ to }, 0);
  const dispatchSeconds = new client.Histogram({
    name: "taskwire_dispatch_latency_seconds",
    help: "From a task becoming PENDING to its sending to an agent connected to this node",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [registry],
  });
  const transactionSeconds = new client.Histogram({
    name: "taskwire_transaction_seconds",
    help: "Write transactions, from their turn to their commit or rollback",
    labelNames: ["kind"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  const clusterNotifies = new client.Counter({
    name: "taskwire_cluster_notifies_total",
    help: "NOTIFY payloads this node sent to the others (PostgreSQL, several nodes): batched hints, never one per task",
    registers: [registry],
  });
  const quietCollections = new client.Counter({
    name: "taskwire_quiet_collections_total",
    help: "Full garbage collections run once the process went quiet after a burst, to give its grown heap back (their pauses are in nodejs_gc_duration_seconds)",
    registers: [registry],
  });
  return { registry, transitions, dispatchSeconds, transactionSeconds, clusterNotifies, quietCollections };
}

export function metrics(): Metrics {
  const holder = globalThis as { [KEY]?: Metrics };
  return (holder[KEY] ??= create());
}

/** Gauges read when scraped: agents and live clients connected to this node. */
export function gaugeConnections(counts: { agents: () => number; liveClients: () => number }): void {
  const { registry } = metrics();
  for (const [name, help, read] of [
    ["taskwire_connected_agents", "Agents connected to this node", counts.agents],
    ["taskwire_live_clients", "Browsers connected to this node's live channel", counts.liveClients],
  ] as const) {
    registry.removeSingleMetric(name);
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  }
}
