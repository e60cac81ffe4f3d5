"use server";

import { revalidatePath } from "next/cache";
import { redirect } from "next/navigation";
import { z } from "zod";
import { runAction, type ActionResult } from "@/app/_lib/action-result";
import { argument, formFields } from "@/app/_lib/form";
import { ValidationError } from "@/lib/errors";
import { issueFanout, issueFanoutOnce, type IssueSummary } from "@/lib/tasks/issue";
import { taskCodeSchema } from "@/lib/tasks/schemas";
import { cancelTask, rerunTask } from "@/lib/tasks/verbs";
import { createSchedule } from "@/lib/schedules/schedules";
import { ROLLOUT_PRESETS } from "@/rules/rollouts";
import { PAYLOAD_FIELDS, payloadInputName, TASK_TYPES, type TaskType } from "@/rules/tasks";

const names = z
  .string()
  .max(200_000, "The list of names is too long")
  .optional()
  .transform((s) => (s ?? "").split(/[\s,]+/).filter(Boolean));

const TTL_UNITS = { minutes: 60, hours: 3600, days: 86400 } as const;

// Every type's payload fields, as text the domain will judge; bounded only so that what is
// read stays small.
const payloadInputs = Object.fromEntries(
  [...new Set(Object.values(PAYLOAD_FIELDS).flatMap((fields) => fields.map((f) => f.name)))].map((name) => [payloadInputName(name), z.string().max(1000).optional()]),
);

/** The fields of a task's spec, shared by the issue form and the schedule form (all strings). */
const specFields = {
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
function specOf(f: SpecForm) {
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

/** The issue form's fields (all strings) to the domain's issue input. */
const issueFormSchema = z
  .object({
    ...specFields,
    when: z.enum(["now", "later"]).default("now"),
    scheduledAt: z.string().max(40).optional(),
    // Made by the form for each submission (issue-form.tsx); its rules are the domain's.
    idempotencyKey: z.string().max(300).optional(),
  })
  .transform((f) => ({ key: f.idempotencyKey, input: { ...specOf(f), scheduledAt: f.when === "later" ? (f.scheduledAt ?? "") : null } }));

/** The schedule form: the same spec, a name and a recurrence (lib/schedules), as the API names them. */
const scheduleFormSchema = z
  .object({
    ...specFields,
    name: z.string().max(200),
    cron: z.string().max(200),
    timezone: z.string().max(100),
    catchUp: z.literal("on").optional(),
  })
  .transform((f) => {
    const { ttlSeconds, ...spec } = specOf(f);
    return { ...spec, ttl_seconds: ttlSeconds, name: f.name, cron: f.cron, timezone: f.timezone, catch_up: f.catchUp === "on" };
  });

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

export type { IssueSummary };

export async function issueTaskAction(_prev: ActionResult<IssueSummary> | undefined, formData: FormData): Promise<ActionResult<IssueSummary>> {
  const result = await runAction(async (ctx) => {
    const { key, input } = formFields(issueFormSchema, formData);
    if (input.scheduledAt === "") throw new ValidationError("Pick the time to run at", { scheduledAt: ["Pick the time to run at"] });
    // With the form's key, a double submit or a retry after a lost answer issues once.
    if (key) return issueFanoutOnce(ctx, input, key);
    const r = await issueFanout(ctx, input);
    return { fanout: r.fanout, total: r.total, first: r.tasks[0].code, replayed: false };
  });
  if (result.ok) revalidatePath("/tasks");
  return onTheForm(result);
}

/** The domain's field errors where the form shows them. */
function onTheForm<T>(result: ActionResult<T>): ActionResult<T> {
  if (result.ok || !result.fieldErrors) return result;
  const errors = result.fieldErrors;
  const gather = (to: string, test: (k: string) => boolean) => {
    const found = Object.entries(errors).filter(([k]) => test(k));
    if (found.length) errors[to] = found.flatMap(([, v]) => v);
  };
  // The form has one names box: target errors show there whatever the target kind.
  gather("targetNames", (k) => k.startsWith("targets"));
  // And one place for the rollout's: each names its field.
  gather("rollout", (k) => k.startsWith("rollout."));
  gather("ttlSeconds", (k) => k === "ttl_seconds");
  return result;
}

export type ScheduleSaved = { id: number; name: string };

/** Creates a schedule from the schedule form (the issue form's spec, a name and a recurrence). */
export async function createScheduleAction(_prev: ActionResult<ScheduleSaved> | undefined, formData: FormData): Promise<ActionResult<ScheduleSaved>> {
  const result = await runAction(async (ctx) => {
    const s = await createSchedule(ctx, formFields(scheduleFormSchema, formData));
    return { id: s.id, name: s.name };
  });
  if (result.ok) revalidatePath("/tasks/schedules");
  return onTheForm(result);
}

export async function cancelTaskAction(code: string): Promise<ActionResult> {
  const result = await runAction(async (ctx) => {
    await cancelTask(ctx, argument(taskCodeSchema, code));
    return undefined;
  });
  if (result.ok) revalidatePath(`/tasks/${code}`);
  return result;
}

export async function rerunTaskAction(code: string): Promise<ActionResult> {
  const result = await runAction(async (ctx) => (await rerunTask(ctx, argument(taskCodeSchema, code))).tasks[0].code);
  if (!result.ok) return result;
  redirect(`/tasks/${result.data}`);
}
