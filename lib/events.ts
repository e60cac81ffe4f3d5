import { pacer } from "../db/transaction";
import { EventEmitter } from "node:events";
import type { TaskStatus, TaskType } from "../rules/tasks";

/** Published once per task transition, after its transaction commits. `from` is null on creation. */
export type TaskTransition = {
  kind: "task.transition";
  organizationId: string;
  taskId: number;
  code: string;
  deviceId: string;
  fanoutId: number | null;
  type: TaskType;
  from: TaskStatus | null;
  to: TaskStatus;
  at: number;
};

export const DEVICE_CHANGES = ["enrolled", "approved", "enabled", "disabled", "renamed", "deleted"] as const;

export type DeviceChange = {
  kind: "device.changed";
  organizationId: string;
  deviceId: string;
  change: (typeof DEVICE_CHANGES)[number];
};

/**
 * Someone's access shrank or ended (removed, demoted, signed out, a session ended, the
 * active organization switched): the live channel closes the matching sockets at once, and
 * the client reconnects with whatever access is left. Every field given must match.
 */
export type AccessChange = {
  kind: "access.changed";
  userId?: string;
  sessionId?: string;
  organizationId?: string;
};

export const FANOUT_CHANGES = ["paused", "resumed", "wave"] as const;

/** A fan-out was paused or resumed (by an admin, or by its breaker), or a wave of its rollout finished or opened: the dispatcher sends what resuming released, the rollout driver takes the next step, the live channel shows it. */
export type FanoutChange = {
  kind: "fanout.changed";
  organizationId: string;
  fanoutId: number;
  change: (typeof FANOUT_CHANGES)[number];
};

/** A schedule was created, changed, paused or resumed (the clock re-arms), or one of its due times was run (its page re-reads). */
export type ScheduleEvent = { kind: "schedule.changed" | "schedule.ran"; organizationId: string; scheduleId: number };

/** A row was added to an organization's audit trail: its open audit pages read it. */
export type AuditRecorded = { kind: "audit.recorded"; organizationId: string };

export type DomainEvent = TaskTransition | DeviceChange | AccessChange | FanoutChange | AuditRecorded | ScheduleEvent;

type Bus = EventEmitter<{ event: [DomainEvent] }>;

// One bus per process, shared by server.ts and the Next bundle (see db/client.ts).
const KEY = Symbol.for("taskwire.events");

function bus(): Bus {
  const holder = globalThis as { [KEY]?: Bus };
  if (!holder[KEY]) {
    holder[KEY] = new EventEmitter({ captureRejections: false }) as Bus;
    holder[KEY].setMaxListeners(100);
  }
  return holder[KEY];
}

export function publish(events: DomainEvent[]): void {
  const b = bus();
  for (const e of events) b.emit("event", e);
}

/** Events published between two looks at the clock by publishInTurns. */
const PUBLISH_SLICE = 100;

/**
 * publish for many events at once (a large fan-out): subscribers run synchronously, so the
 * events go a slice at a time, in order, with a turn of the event loop whenever they have run
 * for a stretch (`pacer()`) — several hundred usually go in one turn.
 */
export async function publishInTurns(events: DomainEvent[]): Promise<void> {
  const pace = pacer();
  for (let i = 0; i < events.length; i += PUBLISH_SLICE) {
    if (i > 0) await pace();
    publish(events.slice(i, i + PUBLISH_SLICE));
  }
}

export function subscribe(listener: (e: DomainEvent) => void): () => void {
  const b = bus();
  b.on("event", listener);
  return () => b.off("event", listener);
}
