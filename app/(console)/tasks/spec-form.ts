import { z } from "zod";
import type { ScheduleSpec } from "@/db/schema";
import { isRolloutPreset, ROLLOUT_PRESETS, type RolloutPreset } from "@/rules/rollouts";
import { PAYLOAD_FIELDS, payloadInputName, TASK_TYPES, TTL_SECONDS, type TaskType } from "@/rules/tasks";

// The issue form's and the schedule form's fields for a task's spec (issue-form.tsx), both
// ways: what a submitted form means to the domain (`specOf`), and what a saved spec shows in
// the form when it is edited (`specFormValues`).

const names = z
  .string()
  .max(200_000, "The list of names is too long")
  .optional()
  .transform((s) => (s ?? "").split(/[\s,]+/).filter(Boolean));

const TTL_UNITS = { minutes: 60, hours: 3600, days: 86400 } as const;
type TtlUnit = keyof typeof TTL_UNITS;

// Every type's payload fields, as text the domain will judge; bounded only so that what is
// read stays small.
const payloadInputs = Object.fromEntries(
  [...new Set(Object.values(PAYLOAD_FIELDS).flatMap((fields) => fields.map((f) => f.name)))].map((name) => [payloadInputName(name), z.string().max(1000).optional()]),
);

/** The fields of a task's spec, shared by the issue form and the schedule form (all strings). */
export const specFields = {
  type: z.string().max(32),
  targetKind: z.enum(["devices", "ous", "all"], { error: () => "Choose a target" }),
  targetNames: names,
  // What a number field sends: digits, perhaps with a fraction ("1.5" hours); not "1e3" or "0x10".
  ttlValue: z.preprocess(
    (v) => (typeof v === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v),
    z.number({ error: () => "Time to live is a number" }).positive("Time to live is positive").max(1e7),
  ),
  ttlUnit: z.enum(["minutes", "hours", "days"]),
  // A preset, or "custom" and the policy's fields as typed; the domain judges them (rules/rollouts.ts).
  rolloutPreset: z.enum([...ROLLOUT_PRESETS, "custom"]).default("all-at-once"),
  rolloutCanary: z.string().max(20).optional(),
  rolloutWaves: z.string().max(200).optional(),
  rolloutMaxInFlight: z.string().max(20).optional(),
  rolloutBetween: z.enum(["now", "minutes", "continue"]).default("now"),
  rolloutPauseMinutes: z.string().max(20).optional(),
  rolloutBreakerPercent: z.string().max(20).optional(),
  rolloutBreakerMin: z.string().max(20).optional(),
  ...payloadInputs,
};

type SpecForm = z.output<z.ZodObject<typeof specFields>>;

/** The spec's fields as the domain takes them. */
export function specOf(f: SpecForm) {
  // The type's fields as the form names them (issue-form.tsx): a required one is sent even
  // empty, for the domain to say it is required; an optional one left empty is left out.
  const fields = (TASK_TYPES as readonly string[]).includes(f.type) ? PAYLOAD_FIELDS[f.type as TaskType] : [];
  const payload = Object.fromEntries(
    fields.flatMap((field) => {
      const value = (f as Record<string, unknown>)[payloadInputName(field.name)] as string | undefined;
      return field.required ? [[field.name, value ?? ""]] : value ? [[field.name, value]] : [];
    }),
  );
  return {
    type: f.type,
    payload,
    targets: f.targetKind === "all" ? { all: true } : { [f.targetKind]: f.targetNames },
    ttlSeconds: Math.round(f.ttlValue * TTL_UNITS[f.ttlUnit]),
    rollout: f.rolloutPreset === "custom" ? customRollout(f) : f.rolloutPreset,
  };
}

/** The form's custom policy as the API writes one: fields left empty are left out. */
function customRollout(f: Record<`rollout${string}`, string | undefined>) {
  const given = (v: string | undefined) => (v?.trim() ? v.trim() : undefined);
  const waves = given(f.rolloutWaves)?.split(/\s*,\s*/);
  const percent = given(f.rolloutBreakerPercent);
  return {
    canary: given(f.rolloutCanary) ?? null,
    ...(waves ? { waves: waves.length === 1 ? waves[0] : waves } : {}),
    max_in_flight: given(f.rolloutMaxInFlight) ?? null,
    between_waves: f.rolloutBetween === "minutes" ? { pause_minutes: given(f.rolloutPauseMinutes) ?? "" } : f.rolloutBetween,
    breaker: percent ? { failed_percent: percent, min_finished: given(f.rolloutBreakerMin) ?? 1 } : null,
  };
}

/** What the spec inputs show: a saved spec's values, or the form's defaults. */
export type SpecFormValues = {
  type: TaskType;
  /** Payload fields as typed, by field name. */
  payload: Record<string, string>;
  targetKind: "devices" | "ous" | "all";
  targetNames: string;
  ttlValue: number;
  ttlUnit: TtlUnit;
  rollout: {
    preset: RolloutPreset | "custom";
    canary: string;
    waves: string;
    maxInFlight: string;
    between: "now" | "minutes" | "continue";
    pauseMinutes: string;
    breakerPercent: string;
    breakerMin: string;
  };
};

/** A time to live in the largest unit it is a whole number of (minutes at least): 7200 s is 2 hours. */
export function ttlInUnits(seconds: number): { value: number; unit: TtlUnit } {
  const unit: TtlUnit = seconds % TTL_UNITS.days === 0 ? "days" : seconds % TTL_UNITS.hours === 0 ? "hours" : "minutes";
  return { value: seconds / TTL_UNITS[unit], unit };
}

const text = (v: unknown) => (v === undefined || v === null ? "" : String(v));

/**
 * A saved spec (a schedule's, as the API took it) as the form shows it, or null when the form
 * cannot show it: a target naming both devices and OUs (the API's to change).
 */
export function specFormValues(type: TaskType, spec: ScheduleSpec): SpecFormValues | null {
  const t = spec.targets;
  if (t.devices?.length && t.ous?.length) return null;
  const { value: ttlValue, unit: ttlUnit } = ttlInUnits(spec.ttl_seconds ?? TTL_SECONDS.default);
  const payload = typeof spec.payload === "object" && spec.payload !== null ? (spec.payload as Record<string, unknown>) : {};
  return {
    type,
    payload: Object.fromEntries(PAYLOAD_FIELDS[type].flatMap((f) => (payload[f.name] === undefined ? [] : [[f.name, text(payload[f.name])]]))),
    targetKind: t.all ? "all" : t.ous?.length ? "ous" : "devices",
    targetNames: (t.ous?.length ? t.ous : (t.devices ?? [])).join(", "),
    ttlValue,
    ttlUnit,
    rollout: rolloutValues(spec.rollout),
  };
}

function rolloutValues(r: unknown): SpecFormValues["rollout"] {
  const none = { canary: "", waves: "", maxInFlight: "", between: "now" as const, pauseMinutes: "10", breakerPercent: "", breakerMin: "1" };
  if (isRolloutPreset(r)) return { preset: r, ...none };
  if (typeof r !== "object" || r === null) return { preset: "all-at-once", ...none };
  const p = r as { canary?: unknown; waves?: unknown; max_in_flight?: unknown; between_waves?: unknown; breaker?: { failed_percent?: unknown; min_finished?: unknown } | null };
  const between = p.between_waves;
  const pause = typeof between === "object" && between !== null ? (between as { pause_minutes?: unknown }).pause_minutes : undefined;
  return {
    preset: "custom",
    canary: text(p.canary),
    waves: Array.isArray(p.waves) ? p.waves.map(text).join(", ") : text(p.waves),
    maxInFlight: text(p.max_in_flight),
    between: pause !== undefined ? "minutes" : between === "continue" ? "continue" : "now",
    pauseMinutes: pause !== undefined ? text(pause) : none.pauseMinutes,
    breakerPercent: text(p.breaker?.failed_percent),
    breakerMin: p.breaker ? text(p.breaker.min_finished ?? 1) : none.breakerMin,
  };
}

/** The form's values before anything is chosen. */
export const NEW_SPEC_VALUES: SpecFormValues = {
  type: "SYNC",
  payload: {},
  targetKind: "devices",
  targetNames: "",
  ttlValue: TTL_SECONDS.default / TTL_UNITS.hours,
  ttlUnit: "hours",
  rollout: rolloutValues(null),
};
