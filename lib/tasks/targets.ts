import { and, eq, inArray, isNull } from "drizzle-orm";
import type { DbOrTx } from "../../db/client";
import { deviceOus, devices, ous, type Device } from "../../db/schema";
import { DEVICE_ACTIONS, deviceAllows, type DeviceStatus } from "../../rules/devices";

export type TargetResolution = { devices: Pick<Device, "id" | "name">[]; unresolved: { name: string; reason: string }[] };

/**
 * Resolves a fan-out target to live devices that may take tasks (rules/devices.ts: ENABLED),
 * de-duplicated. Named devices must exist and be able to; OUs must exist; OU and
 * organization targets skip other devices.
 */
export function resolveTarget(
  db: DbOrTx,
  organizationId: string,
  target: { devices?: string[]; ous?: string[]; all?: boolean },
): TargetResolution {
  const live = and(eq(devices.organizationId, organizationId), isNull(devices.deletedAt));
  const found = new Map<string, Pick<Device, "id" | "name">>();
  const unresolved: TargetResolution["unresolved"] = [];
  const enabled = inArray(devices.status, DEVICE_ACTIONS.tasks);
  const cols = { id: devices.id, name: devices.name, status: devices.status };

  if (target.all) {
    for (const d of db.select(cols).from(devices).where(and(live, enabled)).all()) found.set(d.id, d);
  } else {
    const names = [...new Set(target.devices ?? [])];
    const byName = new Map<string, { id: string; name: string; status: DeviceStatus }>();
    for (let i = 0; i < names.length; i += 500) {
      for (const d of db.select(cols).from(devices).where(and(live, inArray(devices.name, names.slice(i, i + 500)))).all()) byName.set(d.name, d);
    }
    for (const n of names) {
      const d = byName.get(n);
      if (!d) unresolved.push({ name: n, reason: "no such device" });
      else if (!deviceAllows(d.status, "tasks")) unresolved.push({ name: n, reason: `device is ${d.status}` });
      else found.set(d.id, d);
    }
    const ouNames = [...new Set(target.ous ?? [])];
    if (ouNames.length) {
      const known = db.select().from(ous).where(and(eq(ous.organizationId, organizationId), inArray(ous.name, ouNames))).all();
      for (const n of ouNames) if (!known.some((o) => o.name === n)) unresolved.push({ name: n, reason: "no such OU" });
      if (known.length) {
        const members = db
          .select(cols)
          .from(devices)
          .innerJoin(deviceOus, eq(deviceOus.deviceId, devices.id))
          .where(and(live, enabled, inArray(deviceOus.ouId, known.map((o) => o.id))))
          .all();
        for (const d of members) found.set(d.id, d);
      }
    }
  }
  return { devices: [...found.values()].map(({ id, name }) => ({ id, name })), unresolved };
}
