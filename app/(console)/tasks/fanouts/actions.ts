"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import { runAction, type ActionResult } from "@/app/_lib/action-result";
import { argument } from "@/app/_lib/form";
import { cancelFanoutRest, pauseFanout, resumeFanout, retryFanout } from "@/lib/tasks/fanout-verbs";
import { continueFanout } from "@/lib/tasks/rollout";
import { taskCodeSchema } from "@/lib/tasks/schemas";

export type RetrySummary = { fanout: string; total: number; skipped: { device: string; reason: string }[] };

/** Retry failed, failed and expired, or one failure group: the request is the domain's to judge. */
export async function retryFanoutAction(code: string, request: unknown): Promise<ActionResult<RetrySummary>> {
  const result = await runAction(async (ctx) => {
    const r = await retryFanout(ctx, argument(taskCodeSchema, code), request);
    return { fanout: r.fanout, total: r.total, skipped: r.skipped };
  });
  if (result.ok) revalidatePath(`/tasks/fanouts/${code}`);
  return result;
}

export async function cancelFanoutRestAction(code: string): Promise<ActionResult<{ cancelled: number }>> {
  const result = await runAction(async (ctx) => ({ cancelled: (await cancelFanoutRest(ctx, argument(taskCodeSchema, code))).cancelled }));
  if (result.ok) revalidatePath(`/tasks/fanouts/${code}`);
  return result;
}

/** Pause or Resume: the verb says whether the fan-out's state allows it. */
export async function pauseFanoutAction(code: string, pause: boolean): Promise<ActionResult> {
  const result = await runAction(async (ctx) => {
    const c = argument(taskCodeSchema, code);
    await (argument(z.boolean(), pause) ? pauseFanout(ctx, c) : resumeFanout(ctx, c));
    return undefined;
  });
  if (result.ok) revalidatePath(`/tasks/fanouts/${code}`);
  return result;
}

/** Continue a staged rollout: open its next wave now. */
export async function continueFanoutAction(code: string): Promise<ActionResult<{ wave: number }>> {
  const result = await runAction(async (ctx) => ({ wave: (await continueFanout(ctx, argument(taskCodeSchema, code))).wave }));
  if (result.ok) revalidatePath(`/tasks/fanouts/${code}`);
  return result;
}
