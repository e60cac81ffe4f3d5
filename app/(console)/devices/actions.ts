"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import { runAction, type ActionResult } from "@/app/_lib/action-result";
import { argument, formFields, noArguments } from "@/app/_lib/form";
import { approveDevice, deleteDevice, disableDevice, enableDevice, renameDevice } from "@/lib/devices/devices";
import { issueFanout } from "@/lib/tasks/issue";
import { ROLLOUT_PRESETS } from "@/rules/rollouts";

// Field shapes only: each verb validates its own input (names, payloads, roles) again.
const idForm = z.object({ id: z.string().max(64) });
const renameForm = z.object({ id: z.string().max(64), name: z.string().max(200) });
const deviceTaskForm = z.discriminatedUnion("type", [
  z.object({ type: z.literal("SYNC"), device: z.string().max(200) }),
  z.object({ type: z.literal("RESTART"), device: z.string().max(200) }),
  z.object({ type: z.literal("PING"), device: z.string().max(200), host: z.string().max(300), count: z.string().max(10).optional() }),
]);

export type IssuedDeviceTask = { code: string; type: string };
export type IssuedFanout = { fanout: string; total: number };

async function setStatus(verb: typeof approveDevice, formData: FormData): Promise<ActionResult> {
  const result = await runAction(async (ctx) => {
    await verb(ctx, formFields(idForm, formData).id);
    return undefined;
  });
  // Disabling cancels what was waiting for the device.
  if (result.ok) {
    revalidatePath("/devices");
    revalidatePath("/tasks");
  }
  return result;
}

export async function approveDeviceAction(formData: FormData) {
  return setStatus(approveDevice, formData);
}

export async function enableDeviceAction(formData: FormData) {
  return setStatus(enableDevice, formData);
}

export async function disableDeviceAction(formData: FormData) {
  return setStatus(disableDevice, formData);
}

export async function renameDeviceAction(formData: FormData): Promise<ActionResult> {
  const result = await runAction(async (ctx) => {
    const { id, name } = formFields(renameForm, formData);
    await renameDevice(ctx, id, name);
    return undefined;
  });
  if (result.ok) {
    revalidatePath("/devices");
    revalidatePath("/tasks");
  }
  return result;
}

export async function deleteDeviceAction(formData: FormData): Promise<ActionResult> {
  const result = await runAction(async (ctx) => {
    await deleteDevice(ctx, formFields(idForm, formData).id);
    return undefined;
  });
  if (result.ok) {
    revalidatePath("/devices");
    // Its open tasks were cancelled or failed.
    revalidatePath("/tasks");
  }
  return result;
}

/** Sync, Restart or Ping one device: a fan-out of one, answered with its task's code. */
export async function issueDeviceTaskAction(formData: FormData): Promise<ActionResult<IssuedDeviceTask>> {
  const result = await runAction(async (ctx) => {
    const f = formFields(deviceTaskForm, formData);
    const payload = f.type === "PING" ? { host: f.host, ...(f.count ? { count: f.count } : {}) } : undefined;
    const r = await issueFanout(ctx, { type: f.type, payload, targets: { devices: [f.device] } });
    return { code: r.tasks[0].code, type: f.type };
  });
  if (result.ok) revalidatePath("/tasks");
  return result;
}

/** Sync all, all at once or in a staged rollout's preset (rules/rollouts.ts). */
export async function syncAllAction(...args: unknown[]): Promise<ActionResult<IssuedFanout>> {
  const result = await runAction(async (ctx) => {
    const [rollout = "all-at-once", ...more] = args;
    noArguments(more);
    const r = await issueFanout(ctx, { type: "SYNC", targets: { all: true }, rollout: argument(z.enum(ROLLOUT_PRESETS, { error: () => "Unknown rollout preset" }), rollout) });
    return { fanout: r.fanout, total: r.total };
  });
  if (result.ok) revalidatePath("/tasks");
  return result;
}
