"use server";

import { revalidatePath } from "next/cache";
import { redirect } from "next/navigation";
import { z } from "zod";
import { runAction, type ActionResult } from "@/app/_lib/action-result";
import { argument } from "@/app/_lib/form";
import { deleteSchedule, setScheduleEnabled } from "@/lib/schedules/schedules";
import { ROW_ID_MAX } from "@/rules/codes";

const idArg = z.number().int().positive().max(ROW_ID_MAX);

export async function setScheduleEnabledAction(id: unknown, enabled: unknown): Promise<ActionResult> {
  const result = await runAction(async (ctx) => {
    await setScheduleEnabled(ctx, argument(idArg, id), argument(z.boolean(), enabled));
    return undefined;
  });
  if (result.ok) revalidatePath("/tasks/schedules", "layout");
  return result;
}

export async function deleteScheduleAction(id: unknown): Promise<ActionResult> {
  const result = await runAction(async (ctx) => {
    await deleteSchedule(ctx, argument(idArg, id));
    return undefined;
  });
  if (!result.ok) return result;
  revalidatePath("/tasks/schedules");
  redirect("/tasks/schedules");
}
