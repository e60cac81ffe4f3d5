// The task rules: statuses, types, transitions, leases and TTL bounds. The zod enums
// (lib/tasks/schemas.ts), the SQL CHECK constraints (db/schema) and the state-machine
// triggers (rules/sql.ts) all derive from here.

export const TASK_STATUSES = [
  "SCHEDULED",
  "PENDING",
  "IN_PROGRESS",
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "EXPIRED",
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const FINAL_STATUSES = ["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"] as const satisfies readonly TaskStatus[];
export const OPEN_STATUSES = ["SCHEDULED", "PENDING", "IN_PROGRESS"] as const satisfies readonly TaskStatus[];
export const CANCELLABLE_STATUSES = ["SCHEDULED", "PENDING"] as const satisfies readonly TaskStatus[];

export function isFinal(status: TaskStatus): boolean {
  return (FINAL_STATUSES as readonly TaskStatus[]).includes(status);
}

/** Every legal transition; nothing else may happen to a task. */
export const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  SCHEDULED: ["PENDING", "CANCELLED"],
  PENDING: ["IN_PROGRESS", "CANCELLED", "EXPIRED"],
  IN_PROGRESS: ["COMPLETED", "FAILED"],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
  EXPIRED: [],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export const TASK_TYPES = [
  "SYNC",
  "PULL",
  "PUSH",
  "BACKUP",
  "RESTART",
  "REBOOT",
  "SHUTDOWN",
  "PING",
  "PLUGIN_INSTALL",
  "FIRMWARE_UPGRADE",
] as const;
export type TaskType = (typeof TASK_TYPES)[number];

/** How long an IN_PROGRESS task may wait for its result, per type. */
export const LEASE_MINUTES: Record<TaskType, number> = {
  PING: 2,
  RESTART: 5,
  SYNC: 15,
  PULL: 15,
  PUSH: 15,
  BACKUP: 15,
  REBOOT: 15,
  SHUTDOWN: 15,
  PLUGIN_INSTALL: 30,
  FIRMWARE_UPGRADE: 60,
};

export const TTL_SECONDS = { min: 60, max: 30 * 24 * 3600, default: 24 * 3600 } as const;

/**
 * How long a clock sleeps at most unless TASKWIRE_CLOCK_MAX_SLEEP_MS says otherwise. No
 * longer than the shortest time to live and every lease: a task created to run now, or one
 * started, cannot fall due before a clock wakes anyway, and wakes none (lib/tasks/due.ts).
 */
export const CLOCK_MAX_SLEEP_MS = 60_000;

/**
 * The time to live a task was issued with, which a re-run or a retry of it is issued with
 * again: its fan-out's (`issuedWith`; a task that waited for its wave expires that long after
 * its release, not after its creation), or, for a fan-out that did not keep it, from when the
 * task became due to when it expires.
 */
export function ttlSecondsOf(task: { createdAt: Date; scheduledAt: Date | null; expiresAt: Date }, issuedWith: number | null): number {
  const ttl = issuedWith ?? Math.round((task.expiresAt.getTime() - (task.scheduledAt ?? task.createdAt).getTime()) / 1000);
  return Math.min(TTL_SECONDS.max, Math.max(TTL_SECONDS.min, ttl));
}

/**
 * How far ahead a task may be scheduled: a year. A task is an action on a device now or
 * soon; work that recurs belongs to schedules, not to tasks parked for years. The bound also
 * keeps the scheduled time plus the time to live a date JavaScript and SQLite can hold.
 */
export const SCHEDULE_AHEAD_MAX_DAYS = 365;

export const TASK_TYPE_LABELS: Record<TaskType, string> = {
  SYNC: "Sync configuration",
  PULL: "Pull running configuration",
  PUSH: "Push configuration fragment",
  BACKUP: "Back up configuration",
  RESTART: "Restart agent",
  REBOOT: "Reboot appliance",
  SHUTDOWN: "Shut down appliance",
  PING: "Ping a host",
  PLUGIN_INSTALL: "Install agent plugin",
  FIRMWARE_UPGRADE: "Upgrade firmware",
};

/** What a task's status allows, whoever asks: cancel while waiting, re-run once finished. */
export function statusAllows(status: TaskStatus): { cancel: boolean; rerun: boolean } {
  return { cancel: (CANCELLABLE_STATUSES as readonly TaskStatus[]).includes(status), rerun: isFinal(status) };
}

/**
 * One field of a type's payload, as data: lib/tasks/schemas.ts builds the zod schema from
 * it, the issue form its inputs, and the form's action reads the fields it names. `noun` is
 * what messages call the field ("Version is at most 32 characters"), `label` what the form does.
 */
export type PayloadField = { name: string; label: string; noun: string; required: boolean } & (
  | { kind: "text"; maxLength: number; pattern: RegExp; patternMessage: string; placeholder?: string }
  | { kind: "number"; min: number; max: number; default: number }
  | { kind: "select"; options: readonly string[]; default?: string }
);

export const PAYLOAD_FIELDS: Record<TaskType, readonly PayloadField[]> = {
  SYNC: [],
  PULL: [],
  PUSH: [],
  BACKUP: [],
  RESTART: [],
  REBOOT: [],
  SHUTDOWN: [],
  PING: [
    {
      name: "host",
      label: "Host",
      noun: "Host",
      required: true,
      kind: "text",
      maxLength: 253,
      // Starts with a letter or digit (or ":" of an IPv6 address): never read as a ping option.
      pattern: /^[A-Za-z0-9:][A-Za-z0-9.:_-]*$/,
      patternMessage: "Host is a hostname or an IP address",
      placeholder: "1.1.1.1",
    },
    { name: "count", label: "Count", noun: "Count", required: false, kind: "number", min: 1, max: 1000, default: 4 },
  ],
  PLUGIN_INSTALL: [
    {
      name: "targetVersion",
      label: "Target version",
      noun: "Version",
      required: false,
      kind: "text",
      maxLength: 32,
      pattern: /^[0-9A-Za-z._-]*$/,
      patternMessage: "Version is letters, digits, dots and dashes",
      placeholder: "latest",
    },
  ],
  FIRMWARE_UPGRADE: [{ name: "mode", label: "Mode", noun: "Mode", required: true, kind: "select", options: ["minor", "major"], default: "minor" }],
};

/** The name a form gives a payload field's input, and the key its errors come back under. */
export const payloadInputName = (field: string) => `payload.${field}`;
