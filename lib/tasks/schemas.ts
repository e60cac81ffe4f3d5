import { z } from "zod";
import { DEVICE_NAME_MAX } from "../../rules/devices";
import { CODE_PATTERN } from "../../rules/codes";
import { ROLLOUT_LIMITS, ROLLOUT_PRESET_POLICIES, ROLLOUT_PRESETS, type BetweenWaves, type RolloutPolicy, type WaveSize } from "../../rules/rollouts";
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

/**
 * A value that may be written several ways (a number or a string, a name or an object),
 * parsed by the schema for the way it was written: its errors, with their paths, are that
 * schema's own, where a union would only say that no way matched.
 */
function writtenAs<T>(pick: (v: unknown) => z.ZodType<T, unknown> | undefined, message: string) {
  return z.unknown().transform((v, ctx): T => {
    const schema = pick(v);
    if (!schema) {
      ctx.addIssue({ code: "custom", message });
      return z.NEVER;
    }
    const r = schema.safeParse(v);
    if (r.success) return r.data;
    for (const issue of r.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path as PropertyKey[] });
    return z.NEVER;
  });
}

const percentSize = (field: string) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?\s*%$/, `${field} is a number of devices or a percentage like "10%"`)
    .transform((v) => Number(v.replace("%", "")))
    .pipe(z.number().int(`${field}: a percentage is a whole number`).min(1, `${field}: a percentage is between 1 and 100`).max(100, `${field}: a percentage is between 1 and 100`))
    .transform((percent): WaveSize => ({ percent }));

/** A wave's size as the API and the form write it: 25 (devices), "10%" (of the target), or "rest" (all that is left). */
const waveSizeSchema = (field: string) => {
  const count = typedNumber(
    z.number().int(`${field} is a whole number of devices`).min(1, `${field} is at least 1 device`).max(ROLLOUT_LIMITS.maxInFlight, `${field} is at most ${ROLLOUT_LIMITS.maxInFlight} devices`),
  ).transform((count): WaveSize => ({ count }));
  const rest = z.literal("rest").transform((): WaveSize => ({ percent: 100 }));
  return writtenAs<WaveSize>(
    (v) => (typeof v === "number" || (typeof v === "string" && /^\s*-?\d+\s*$/.test(v)) ? count : v === "rest" ? rest : typeof v === "string" ? percentSize(field) : undefined),
    `${field} is a number of devices, a percentage like "10%", or "rest"`,
  );
};

const betweenWavesSchema = writtenAs<BetweenWaves>(
  (v) =>
    v === "now"
      ? z.literal("now").transform((): BetweenWaves => ({ kind: "now" }))
      : v === "continue"
        ? z.literal("continue").transform((): BetweenWaves => ({ kind: "continue" }))
        : typeof v === "object" && v !== null
          ? z
      .strictObject({
        pause_minutes: typedNumber(
          z
            .number({ error: () => "The pause between waves is a number of minutes" })
            .int("The pause between waves is a whole number of minutes")
            .min(1, "The pause between waves is at least 1 minute")
            .max(ROLLOUT_LIMITS.maxPauseMinutes, `The pause between waves is at most ${ROLLOUT_LIMITS.maxPauseMinutes / 1440} days`),
        ),
      })
      .transform((b): BetweenWaves => ({ kind: "minutes", minutes: b.pause_minutes }))
          : undefined,
  'Between waves is "now", "continue" or { "pause_minutes": n }',
);

/**
 * A staged rollout (rules/rollouts.ts): a preset's name, or a policy written out. Its fields
 * are named as in the API (`max_in_flight`), so an error names the field the caller wrote.
 * Whether it fits the target (a canary larger than it, say) is checked once the target is read.
 */
const presetSchema = z.enum(ROLLOUT_PRESETS, { error: () => `A rollout preset is one of ${ROLLOUT_PRESETS.map((p) => `"${p}"`).join(", ")}` }).transform((p) => ROLLOUT_PRESET_POLICIES[p]);
const policySchema = z
      .strictObject({
        canary: waveSizeSchema("The canary").nullish(),
        waves: writtenAs<WaveSize[]>(
          (v) => (Array.isArray(v) ? z.array(waveSizeSchema("A wave")).min(1, "Give at least one wave").max(20, "At most 20 wave sizes; the last one repeats") : waveSizeSchema("A wave").transform((w) => [w])),
          "",
        ).optional(),
        max_in_flight: typedNumber(
          z
            .number({ error: () => "At most in flight is a number of tasks" })
            .int("At most in flight is a whole number of tasks")
            .min(1, "At most in flight is at least 1 task")
            .max(ROLLOUT_LIMITS.maxInFlight, `At most in flight is at most ${ROLLOUT_LIMITS.maxInFlight} tasks`),
        ).nullish(),
        between_waves: betweenWavesSchema.optional(),
        breaker: z
          .strictObject({
            failed_percent: typedNumber(
              z.number({ error: () => "The breaker's percentage is a number" }).int("The breaker's percentage is a whole number").min(1, "The breaker's percentage is between 1 and 100").max(100, "The breaker's percentage is between 1 and 100"),
            ),
            min_finished: typedNumber(
              z
                .number({ error: () => "The breaker's minimum is a number of finished tasks" })
                .int("The breaker's minimum is a whole number of finished tasks")
                .min(1, "The breaker waits for at least 1 finished task"),
            ).default(1),
          })
          .nullish(),
      })
      .transform(
        (p): RolloutPolicy => ({
          canary: p.canary ?? null,
          waves: p.waves ?? [{ percent: 100 }],
          maxInFlight: p.max_in_flight ?? null,
          between: p.between_waves ?? { kind: "now" },
          breaker: p.breaker ? { failedPercent: p.breaker.failed_percent, minFinished: p.breaker.min_finished } : null,
        }),
      );
export const rolloutSchema = writtenAs<RolloutPolicy | null>(
  (v) => (typeof v === "string" ? presetSchema : typeof v === "object" && v !== null && !Array.isArray(v) ? policySchema : undefined),
  `A rollout is one of ${ROLLOUT_PRESETS.map((p) => `"${p}"`).join(", ")}, or a policy object`,
);

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
  rollout: rolloutSchema.nullish(),
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
