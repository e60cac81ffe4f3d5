import { z } from "zod";
import { DEVICE_NAME_MAX } from "../../rules/devices";
import { CODE_PATTERN } from "../../rules/codes";
import { PAYLOAD_FIELDS, SCHEDULE_AHEAD_MAX_DAYS, TASK_STATUSES, TASK_TYPES, TTL_SECONDS, type PayloadField, type TaskType } from "../../rules/tasks";

export const taskTypeSchema = z.enum(TASK_TYPES, { error: () => `Unknown type; expected one of ${TASK_TYPES.join(", ")}` });
export const taskStatusSchema = z.enum(TASK_STATUSES, {
  error: () => `Unknown status; expected one of ${TASK_STATUSES.join(", ")}`,
});
export const taskCodeSchema = z.string().regex(CODE_PATTERN, "A task code is 8 letters or digits");

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

/** A payload field's schema, from its descriptor (rules/tasks.ts). */
function fieldSchema(f: PayloadField) {
  switch (f.kind) {
    case "text": {
      const base = f.required
        ? z.string({ error: (i) => (i.input === undefined ? `${f.noun} is required` : f.patternMessage) }).trim().min(1, `${f.noun} is required`)
        : z.string().trim();
      const text = base.max(f.maxLength, `${f.noun} is at most ${f.maxLength} characters`).regex(f.pattern, f.patternMessage);
      // An optional text left empty is no value at all.
      return f.required ? text : text.optional().transform((v) => (v ? v : undefined));
    }
    case "number": {
      const whole = `${f.noun} is a whole number`;
      const n = typedNumber(
        z.number({ error: () => whole }).int(whole).min(f.min, `${f.noun} is at least ${f.min}`).max(f.max, `${f.noun} is at most ${f.max}`),
      );
      return f.required ? n : n.default(f.default);
    }
    case "select": {
      const e = z.enum(f.options as [string, ...string[]], { error: () => `${f.noun} is ${f.options.map((o) => `"${o}"`).join(" or ")}` });
      return f.required ? e : e.optional();
    }
  }
}

/** The payload each type carries, built from its fields; types without one accept nothing (or an empty object). */
export const PAYLOAD_SCHEMAS = Object.fromEntries(
  TASK_TYPES.map((t) => [t, z.object(Object.fromEntries(PAYLOAD_FIELDS[t].map((f) => [f.name, fieldSchema(f)]))).strict()]),
) as unknown as Record<TaskType, z.ZodType<Record<string, unknown>, unknown>>;

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
