import { and, asc, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import type { DbOrTx } from "../../db/client";
import { pacer } from "../../db/transaction";
import { deviceOus, devices, ous, type Device } from "../../db/schema";
import { DEVICE_ACTIONS, deviceAllows, type DeviceStatus } from "../../rules/devices";

/** Devices, of any organization, that may take tasks: live, and in a status that allows them (rules/devices.ts). */
export const takesTasks = () => and(isNull(devices.deletedAt), inArray(devices.status, DEVICE_ACTIONS.tasks))!;

/** Devices of the organization that may take tasks. */
export const mayTakeTasks = (organizationId: string) => and(eq(devices.organizationId, organizationId), takesTasks());

/** Devices of the organization that are not deleted. */
const liveIn = (organizationId: string) => and(eq(devices.organizationId, organizationId), isNull(devices.deletedAt));

export type TargetResolution = { devices: Pick<Device, "id" | "name">[]; unresolved: { name: string; reason: string }[] };

/** Devices read per statement: a page costs a few milliseconds. */
const PAGE = 1_000;
/** Names looked up per statement. */
const NAMES_PER_QUERY = 500;

/**
 * Resolves a fan-out target to live devices that may take tasks (rules/devices.ts: ENABLED),
 * de-duplicated. Named devices must exist and be able to; OUs must exist; OU and
 * organization targets skip other devices. A large target is read a page at a time, with a
 * turn of the event loop after every stretch of reading (`pacer()`); inside a transaction it still sees one state.
 */
export async function resolveTarget(
  h: DbOrTx,
  organizationId: string,
  target: { devices?: string[]; ous?: string[]; all?: boolean },
): Promise<TargetResolution> {
  const live = liveIn(organizationId);
  const may = mayTakeTasks(organizationId);
  // A page costs a few milliseconds: the loop turns whenever reading has taken a stretch.
  const pace = pacer();
  const found = new Map<string, Kept>();
  const unresolved: TargetResolution["unresolved"] = [];
  // What a target keeps of each device; a name is checked against its status too.
  const kept = { id: devices.id, name: devices.name };

  if (target.all) {
    // Keyset pages along (organization, name): the organization's index, in name order.
    await inPages(
      (last, limit) =>
        h
          .select(kept)
          .from(devices)
          .where(and(may, last && sql`(${devices.name}, ${devices.id}) > (${last.name}, ${last.id})`))
          .orderBy(asc(devices.name), asc(devices.id))
          .limit(limit),
      found,
      pace,
    );
  } else {
    const names = [...new Set(target.devices ?? [])];
    const byName = new Map<string, { id: string; name: string; status: DeviceStatus }>();
    for (let i = 0; i < names.length; i += NAMES_PER_QUERY) {
      if (i > 0) await pace();
      for (const d of await h.select({ ...kept, status: devices.status }).from(devices).where(and(live, inArray(devices.name, names.slice(i, i + NAMES_PER_QUERY))))) byName.set(d.name, d);
    }
    for (const n of names) {
      const d = byName.get(n);
      if (!d) unresolved.push({ name: n, reason: "no such device" });
      else if (!deviceAllows(d.status, "tasks")) unresolved.push({ name: n, reason: `device is ${d.status}` });
      else found.set(d.id, { id: d.id, name: d.name });
    }
    const ouNames = [...new Set(target.ous ?? [])];
    if (ouNames.length) {
      const known = await h.select().from(ous).where(and(eq(ous.organizationId, organizationId), inArray(ous.name, ouNames)));
      for (const n of ouNames) if (!known.some((o) => o.name === n)) unresolved.push({ name: n, reason: "no such OU" });
      if (known.length) {
        // Keyset pages along the device id; a device in several of the OUs comes once per OU
        // within a page and is counted once.
        const inKnown = inArray(deviceOus.ouId, known.map((o) => o.id));
        await inPages(
          (last, limit) =>
            h
              .select(kept)
              .from(devices)
              .innerJoin(deviceOus, eq(deviceOus.deviceId, devices.id))
              .where(and(may, inKnown, last && gt(devices.id, last.id)))
              .orderBy(asc(devices.id))
              .limit(limit),
          found,
          pace,
        );
      }
    }
  }
  return { devices: [...found.values()], unresolved };
}

type Kept = Pick<Device, "id" | "name">;

/**
 * Reads `read`'s keyset pages of PAGE devices into `found`, each after the last device of the
 * one before, with a turn of the loop (`pace`) between pages when reading has taken a stretch.
 * Each read asks for one row past its page, which says whether another follows: no read of
 * an empty last page.
 */
async function inPages(read: (last: Kept | undefined, limit: number) => Promise<Kept[]>, found: Map<string, Kept>, pace: () => Promise<void>): Promise<void> {
  for (let last: Kept | undefined; ; ) {
    if (last) await pace();
    const page = await read(last, PAGE + 1);
    for (const d of page.slice(0, PAGE)) found.set(d.id, d);
    if (page.length <= PAGE) return;
    last = page[PAGE - 1];
  }
}
