import { randomUUID } from "node:crypto";
import { and, asc, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import type { Tx } from "../../db/client";
import { withTransaction, type Ctx } from "../../db/transaction";
import { anyOf, containsText, lockRows, unlessTaken } from "../../db/portable";
import { deviceOus, devices, ous, tasks, type Device } from "../../db/schema";
import { DELETED_SUFFIX, DEVICE_NAME_MAX, deviceAllows, type DeviceStatus } from "../../rules/devices";
import { requireRole, type ActorCtx } from "../actor";
import { ConflictError, NotFoundError } from "../errors";
import { recordAudit } from "../audit/record";
import { publish, type DomainEvent } from "../events";
import { transitionTasks } from "../tasks/transition";
import { parse } from "../validation";

export const deviceNameSchema = z
  .string()
  .trim()
  .min(1, "Name is required")
  .max(DEVICE_NAME_MAX, `Name is at most ${DEVICE_NAME_MAX} characters`)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "Name is letters, digits, dots, dashes and underscores")
  .refine((n) => !n.endsWith(DELETED_SUFFIX), `A name cannot end in ${DELETED_SUFFIX}`);

export type DeviceRow = Device & { ous: string[] };

export async function listDevices({ db, actor }: ActorCtx, opts: { query?: string } = {}): Promise<DeviceRow[]> {
  const rows = await db
    .select()
    .from(devices)
    .where(
      and(
        eq(devices.organizationId, actor.organizationId),
        isNull(devices.deletedAt),
        opts.query ? containsText(devices.name, opts.query) : undefined,
      ),
    )
    .orderBy(asc(devices.name));
  const ouRows = await db
    .select({ deviceId: deviceOus.deviceId, name: ous.name })
    .from(deviceOus)
    .innerJoin(ous, eq(ous.id, deviceOus.ouId))
    .where(eq(ous.organizationId, actor.organizationId));
  const byDevice = new Map<string, string[]>();
  for (const r of ouRows) (byDevice.get(r.deviceId) ?? byDevice.set(r.deviceId, []).get(r.deviceId)!).push(r.name);
  return rows.map((d) => ({ ...d, ous: (byDevice.get(d.id) ?? []).sort() }));
}

/**
 * The organization's OU names, in order: what the issue and schedule forms offer. A list
 * page renders it on every request, so it reads the OUs alone (counting each OU's devices
 * took ~8 ms of every tasks page on PostgreSQL with 10,000 devices).
 */
export async function ouNames({ db }: Ctx, organizationId: string): Promise<string[]> {
  const rows = await db.select({ name: ous.name }).from(ous).where(eq(ous.organizationId, organizationId)).orderBy(asc(ous.name));
  return rows.map((o) => o.name);
}

/**
 * A live device of the organization, locked until the transaction ends: a change checks the
 * status it read and writes from it, and two admins' changes at once on PostgreSQL (a Disable
 * and an Approve of the same PENDING device) take turns, the second reading what the first wrote.
 */
async function deviceToChange(tx: Tx, organizationId: string, id: string): Promise<Device> {
  await lockRows(tx, devices, eq(devices.id, id));
  const [d] = await tx
    .select()
    .from(devices)
    .where(and(eq(devices.id, id), eq(devices.organizationId, organizationId), isNull(devices.deletedAt)))
    .limit(1);
  if (!d) throw new NotFoundError("Device");
  return d;
}

/**
 * Creates a device (enrollment and seeding), in a transaction of its own or as part of the
 * caller's; OUs are created on first use.
 */
export async function createDevice(
  ctx: Ctx,
  input: { organizationId: string; name: string; status?: DeviceStatus; ous?: string[]; agentVersion?: string | null; tokenHash?: string | null; at?: Date },
): Promise<Device> {
  const name = parse(deviceNameSchema, input.name);
  return withTransaction(ctx, async (tx) => {
    const [device] = await unlessTaken(
      tx
        .insert(devices)
        .values({
          id: randomUUID(),
          organizationId: input.organizationId,
          name,
          status: input.status ?? "PENDING",
          agentVersion: input.agentVersion ?? null,
          tokenHash: input.tokenHash ?? null,
          enrolledAt: input.at ?? new Date(),
        })
        .returning(),
      LIVE_NAME,
      () => nameTaken(name),
    );
    await joinOus(tx, input.organizationId, device.id, input.ous ?? []);
    return device;
  });
}

/** A live device's name is unique in its organization (the index `devices_org_live_name_uidx`). */
const LIVE_NAME = [devices.organizationId, devices.name];
const nameTaken = (name: string) => new ConflictError(`A device named ${name} already exists`);

/**
 * Puts a device in the named OUs, each created on first use. Devices enrolled at once may name
 * the same new OU: each name is inserted unless it exists, then read. The names go in one
 * order, so that two such writes on PostgreSQL wait for each other at most, never in a circle.
 */
async function joinOus(tx: Tx, organizationId: string, deviceId: string, names: string[]): Promise<void> {
  const wanted = [...new Set(names)].sort();
  if (!wanted.length) return;
  await tx
    .insert(ous)
    .values(wanted.map((name) => ({ organizationId, name })))
    .onConflictDoNothing({ target: [ous.organizationId, ous.name] });
  const joined = await tx.select({ id: ous.id }).from(ous).where(and(eq(ous.organizationId, organizationId), anyOf(ous.name, wanted)));
  await tx.insert(deviceOus).values(joined.map((ou) => ({ deviceId, ouId: ou.id })));
}

const idSchema = z.string().uuid("Not a device id");

const deviceTarget = (d: Device) => ({ type: "device" as const, id: d.id, label: d.name });

async function setStatus(ctx: ActorCtx, id: string, change: "approve" | "enable" | "disable", to: DeviceStatus): Promise<void> {
  const { actor } = ctx;
  requireRole(actor, "READ_WRITE");
  const deviceId = parse(idSchema, id);
  const events = await withTransaction(ctx, async (tx) => {
    const events: DomainEvent[] = [];
    const d = await deviceToChange(tx, actor.organizationId, deviceId);
    if (!deviceAllows(d.status, change)) throw new ConflictError(`The device is ${d.status}`);
    await tx.update(devices).set({ status: to }).where(eq(devices.id, d.id));
    // A disabled device gets no tasks: what was waiting for it will not run.
    // Its agent is disconnected and cannot report, so running tasks fail now, not at lease end.
    // One moment for the tasks it ends and its audit row: "Cancelled by" is read by it.
    const at = new Date();
    if (to === "DISABLED") events.push(...(await finishOpenTasks(tx, d.id, "Device disabled", "Device disabled while the task was running", at)));
    events.push({ kind: "device.changed", organizationId: actor.organizationId, deviceId: d.id, change: CHANGED[change] });
    events.push(...(await recordAudit(tx, actor, { action: `device.${change}`, target: deviceTarget(d), detail: { from: d.status, to } }, at)));
    return events;
  });
  publish(events);
}

const CHANGED = { approve: "approved", enable: "enabled", disable: "disabled" } as const;

// Which statuses each may start from is rules/devices.ts's DEVICE_ACTIONS, the table the registry's buttons follow.
export const approveDevice = (ctx: ActorCtx, id: string) => setStatus(ctx, id, "approve", "ENABLED");
export const enableDevice = (ctx: ActorCtx, id: string) => setStatus(ctx, id, "enable", "ENABLED");
export const disableDevice = (ctx: ActorCtx, id: string) => setStatus(ctx, id, "disable", "DISABLED");

export async function renameDevice(ctx: ActorCtx, id: string, newName: string): Promise<void> {
  const { actor } = ctx;
  requireRole(actor, "READ_WRITE");
  const deviceId = parse(idSchema, id);
  const name = parse(deviceNameSchema, newName);
  const audited = await withTransaction(ctx, async (tx) => {
    const d = await deviceToChange(tx, actor.organizationId, deviceId);
    if (!deviceAllows(d.status, "rename")) throw new ConflictError(`The device is ${d.status}`);
    if (d.name === name) return null;
    await unlessTaken(tx.update(devices).set({ name }).where(eq(devices.id, d.id)), LIVE_NAME, () => nameTaken(name));
    return recordAudit(tx, actor, { action: "device.rename", target: { type: "device", id: d.id, label: name }, detail: { from: d.name, to: name } });
  });
  if (audited) publish([{ kind: "device.changed", organizationId: actor.organizationId, deviceId, change: "renamed" }, ...audited]);
}

/**
 * Soft delete: the token stops working, the name gains DELETED_SUFFIX, waiting tasks are
 * cancelled and running ones failed, all in one transaction.
 */
export async function deleteDevice(ctx: ActorCtx, id: string): Promise<void> {
  const { actor } = ctx;
  requireRole(actor, "READ_WRITE");
  const deviceId = parse(idSchema, id);
  const events = await withTransaction(ctx, async (tx) => {
    const d = await deviceToChange(tx, actor.organizationId, deviceId);
    if (!deviceAllows(d.status, "delete")) throw new ConflictError(`The device is ${d.status}`);
    // The token hash stays so its holder can be told "deleted"; deletedAt alone locks it out.
    await tx.update(devices).set({ deletedAt: new Date(), online: false }).where(eq(devices.id, d.id));
    const at = new Date();
    const events: DomainEvent[] = await finishOpenTasks(tx, d.id, "Device deleted", "Device deleted while the task was running", at);
    events.push(...(await recordAudit(tx, actor, { action: "device.delete", target: deviceTarget(d), detail: { tasksEnded: events.length } }, at)));
    events.push({ kind: "device.changed", organizationId: actor.organizationId, deviceId: d.id, change: "deleted" });
    return events;
  });
  publish(events);
}

async function finishOpenTasks(tx: Tx, deviceId: string, waitingMessage: string, runningMessage: string, at: Date): Promise<DomainEvent[]> {
  const mine = eq(tasks.deviceId, deviceId);
  return [
    ...(await transitionTasks(tx, { where: mine, from: "SCHEDULED", to: "CANCELLED", message: waitingMessage, at })).events,
    ...(await transitionTasks(tx, { where: mine, from: "PENDING", to: "CANCELLED", message: waitingMessage, at })).events,
    ...(await transitionTasks(tx, { where: mine, from: "IN_PROGRESS", to: "FAILED", message: runningMessage, at })).events,
  ];
}
