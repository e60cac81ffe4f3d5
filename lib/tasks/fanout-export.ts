import { eq, inArray, type SQL } from "drizzle-orm";
import type { DbOrTx } from "../../db/client";
import { deviceOus, devices, ous, tasks } from "../../db/schema";
import type { TaskStatus } from "../../rules/tasks";
import type { ActorCtx } from "../auth/actor";
import { fanoutWindows, findFanout } from "./fanout-queries";
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
const WINDOW = 500;

/**
 * A fan-out's tasks in id order, a window at a time (fanoutWindows), for an export of any
 * size at constant memory. The fan-out is found (or not found) at once; its tasks are read as
 * the pages are asked for.
 */
export async function exportFanout(ctx: ActorCtx, rawCode: unknown) {
  const { db, actor } = ctx;
  const fanout = await findFanout(db, actor.organizationId, rawCode);
  return { fanout, pages: () => fanoutWindows(db, fanout.id, WINDOW, (_lo, _hi, mine) => windowRows(db, mine)) };
}

async function windowRows(h: DbOrTx, mine: SQL): Promise<ExportRow[]> {
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
    .where(mine)
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
