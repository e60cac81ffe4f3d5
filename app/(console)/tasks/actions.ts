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
import { createSchedule, updateSchedule } from "@/lib/schedules/schedules";
import { specFields, specOf } from "./spec-form";

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

/** A schedule's form saved over it: its spec and recurrence; paused or running as it was. */
export async function updateScheduleAction(id: unknown, _prev: ActionResult<ScheduleSaved> | undefined, formData: FormData): Promise<ActionResult<ScheduleSaved>> {
  const result = await runAction(async (ctx) => {
    const s = await updateSchedule(ctx, id, formFields(scheduleFormSchema, formData));
    return { id: s.id, name: s.name };
  });
  if (!result.ok) return onTheForm(result);
  revalidatePath("/tasks/schedules", "layout");
  redirect(`/tasks/schedules/${result.data.id}`);
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
