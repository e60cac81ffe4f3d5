import { and, eq, gte, inArray, lte, max, min } from "drizzle-orm";
import type { DbOrTx } from "../../db/client";
import { deviceOus, devices, ous, tasks } from "../../db/schema";
import type { TaskStatus } from "../../rules/tasks";
import type { ActorCtx } from "../auth/actor";
import { findFanout } from "./fanout-queries";
import { displayNameSql } from "./queries";

/** One task of a fan-out as its export writes it. */
export type ExportRow = {
  code: string;
  device: string;
  ous: string[];
  status: TaskStatus;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  message: string | null;
};

/** Task ids read per window: a window is one range scan of the primary key, a few milliseconds. */
const WINDOW = 2_000;

/**
 * A fan-out's tasks in id order, a window at a time, for an export of any size at constant
 * memory. The fan-out is found (or not found) at once; its tasks are read as the pages are
 * asked for. A fan-out's tasks are written by one statement or a few, so their ids are
 * (nearly) contiguous: each window is a range of the primary key filtered to the fan-out,
 * which needs no index of its own and never sorts.
 */
export async function exportFanout(ctx: ActorCtx, rawCode: unknown) {
  const { db, actor } = ctx;
  const fanout = await findFanout(db, actor.organizationId, rawCode);
  const [range] = await db
    .select({ lo: min(tasks.id), hi: max(tasks.id) })
    .from(tasks)
    .where(eq(tasks.fanoutId, fanout.id));
  async function* pages(): AsyncGenerator<ExportRow[]> {
    if (range.lo === null || range.hi === null) return;
    for (let lo = Number(range.lo); lo <= Number(range.hi); lo += WINDOW) {
      const rows = await windowRows(db, fanout.id, lo, Math.min(lo + WINDOW - 1, Number(range.hi)));
      if (rows.length) yield rows;
    }
  }
  return { fanout, pages };
}

async function windowRows(h: DbOrTx, fanoutId: number, lo: number, hi: number): Promise<ExportRow[]> {
  const rows = await h
    .select({
      code: tasks.code,
      deviceId: tasks.deviceId,
      device: displayNameSql,
      status: tasks.status,
      startedAt: tasks.startedAt,
      finishedAt: tasks.finishedAt,
      message: tasks.message,
    })
    .from(tasks)
    .innerJoin(devices, eq(devices.id, tasks.deviceId))
    .where(and(gte(tasks.id, lo), lte(tasks.id, hi), eq(tasks.fanoutId, fanoutId)))
    .orderBy(tasks.id);
  const ouNames = new Map<string, string[]>();
  const ids = [...new Set(rows.map((r) => r.deviceId))];
  for (let i = 0; i < ids.length; i += 500) {
    const links = await h
      .select({ deviceId: deviceOus.deviceId, name: ous.name })
      .from(deviceOus)
      .innerJoin(ous, eq(ous.id, deviceOus.ouId))
      .where(inArray(deviceOus.deviceId, ids.slice(i, i + 500)));
    for (const l of links) (ouNames.get(l.deviceId) ?? ouNames.set(l.deviceId, []).get(l.deviceId)!).push(l.name);
  }
  return rows.map((r) => ({
    code: r.code,
    device: r.device,
    ous: (ouNames.get(r.deviceId) ?? []).sort(),
    status: r.status,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: r.startedAt && r.finishedAt ? r.finishedAt.getTime() - r.startedAt.getTime() : null,
    message: r.message,
  }));
}
