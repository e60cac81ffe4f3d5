import { z } from "zod";
import { DEVICE_NAME_MAX } from "../../rules/devices";
import { CODE_PATTERN } from "../../rules/codes";
import { SCHEDULE_AHEAD_MAX_DAYS, TASK_STATUSES, TASK_TYPES, TTL_SECONDS, type TaskType } from "../../rules/tasks";

export const taskTypeSchema = z.enum(TASK_TYPES, { error: () => `Unknown type; expected one of ${TASK_TYPES.join(", ")}` });
export const taskStatusSchema = z.enum(TASK_STATUSES, {
  error: () => `Unknown status; expected one of ${TASK_STATUSES.join(", ")}`,
});
export const taskCodeSchema = z.string().regex(CODE_PATTERN, "A task code is 8 letters or digits");

const hostSchema = z
  .string({ error: (i) => (i.input === undefined ? "Host is required" : "Host is a hostname or an IP address") })
  .trim()
  .min(1, "Host is required")
  .max(253, "Host is at most 253 characters")
  // Starts with a letter or digit (or ":" of an IPv6 address): never read as a ping option.
  .regex(/^[A-Za-z0-9:][A-Za-z0-9.:_-]*$/, "Host is a hostname or an IP address");

/**
 * A whole number as a person enters it: a JSON number, or decimal digits in a string (what a
 * form field sends), spaces around them ignored; a sign is kept so that "-5" is told it is
 * too small. z.coerce would also take `true`, `[5]`, "0x10" and "1e3", which nobody typed
 * as a count.
 */
function typedNumber<S extends z.ZodType<number>>(schema: S) {
  return z.preprocess((v) => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v), schema);
}

// ISO 8601 with a zone, as the API documents and the form sends (toISOString). A year past
// 9999 is written with six digits and a sign: taken too, so that it is refused for being
// too far ahead rather than for its spelling.
const ISO_DATE_TIME = z.iso.datetime({ offset: true });
const EXPANDED_YEAR = /^[+-]\d{6}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;
export const DATE_TIME_MESSAGE = "Scheduled time is an ISO 8601 date-time, e.g. 2026-05-01T22:00:00Z";

/** Whether a string is a date-time the API and the form accept. */
export const isDateTimeString = (s: string) => (ISO_DATE_TIME.safeParse(s).success || EXPANDED_YEAR.test(s)) && !Number.isNaN(Date.parse(s));

/**
 * A point in time: a Date (from code) or an ISO 8601 date-time string (from the form or the
 * API). z.coerce.date would also take `true`, a bare number or `[2030]`.
 */
const pointInTime = z.preprocess(
  (v) => (typeof v === "string" && isDateTimeString(v.trim()) ? new Date(v.trim()) : v),
  z.date({ error: () => DATE_TIME_MESSAGE }),
);

const empty = z.object({}).strict();

/** The payload each type carries; types without one accept nothing (or an empty object). */
export const PAYLOAD_SCHEMAS = {
  SYNC: empty,
  PULL: empty,
  PUSH: empty,
  BACKUP: empty,
  RESTART: empty,
  REBOOT: empty,
  SHUTDOWN: empty,
  PING: z
    .object({
      host: hostSchema,
      count: typedNumber(
        z.number({ error: () => "Count is a whole number" }).int("Count is a whole number").min(1, "Count is at least 1").max(1000, "Count is at most 1000"),
      ).default(4),
    })
    .strict(),
  PLUGIN_INSTALL: z
    .object({
      targetVersion: z
        .string()
        .trim()
        .max(32, "Version is at most 32 characters")
        .regex(/^[0-9A-Za-z._-]*$/, "Version is letters, digits, dots and dashes")
        .optional()
        .transform((v) => (v ? v : undefined)),
    })
    .strict(),
  FIRMWARE_UPGRADE: z.object({ mode: z.enum(["minor", "major"], { error: () => 'Mode is "minor" or "major"' }) }).strict(),
} satisfies Record<TaskType, z.ZodType>;

export type Payload = Record<string, unknown> | null;

const nameList = z
  .array(z.string().trim().min(1, "A name cannot be empty").max(DEVICE_NAME_MAX, `A name is at most ${DEVICE_NAME_MAX} characters`))
  .max(10_000, "At most 10,000 names");

export const targetSchema = z
  .object({
    devices: nameList.optional(),
    ous: nameList.optional(),
    all: z.boolean().optional(),
  })
  .strict()
  .refine((t) => t.all || (t.devices?.length ?? 0) + (t.ous?.length ?? 0) > 0, {
    message: "Name at least one device or OU, or target the whole organization",
  });

export const issueSchema = z.object({
  type: taskTypeSchema,
  payload: z.unknown().optional(),
  targets: targetSchema,
  scheduledAt: pointInTime.nullish(),
  ttlSeconds: typedNumber(
    z
      .number({ error: () => "Time to live is a number of seconds" })
      .int("Time to live is a whole number of seconds")
      .min(TTL_SECONDS.min, "Time to live is at least 1 minute")
      .max(TTL_SECONDS.max, "Time to live is at most 30 days"),
  ).default(TTL_SECONDS.default),
});

const DAY_MS = 24 * 3600 * 1000;

/**
 * The issue schema with the bounds that depend on the moment of issuing: a scheduled time
 * is not in the past (a second of slack for the trip from the form) and at most
 * SCHEDULE_AHEAD_MAX_DAYS ahead.
 */
export function issueSchemaAt(now: Date) {
  const latest = now.getTime() + SCHEDULE_AHEAD_MAX_DAYS * DAY_MS;
  return issueSchema.extend({
    scheduledAt: pointInTime
      .refine((d) => d.getTime() >= now.getTime() - 1000, "The scheduled time is in the past")
      .refine((d) => d.getTime() <= latest, `The scheduled time is at most ${SCHEDULE_AHEAD_MAX_DAYS} days ahead`)
      .nullish(),
  });
}

export const listFilterSchema = z.object({
  device: z.string().trim().max(DEVICE_NAME_MAX, `Device filter is at most ${DEVICE_NAME_MAX} characters`).optional(),
  type: taskTypeSchema.optional(),
  status: taskStatusSchema.optional(),
  fanout: taskCodeSchema.optional(),
});
export type ListFilter = z.output<typeof listFilterSchema>;
