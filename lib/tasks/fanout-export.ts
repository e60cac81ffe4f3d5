import { eq, inArray, type SQL } from "drizzle-orm";
import type { DbOrTx } from "../../db/client";
import { deviceOus, devices, tasks } from "../../db/schema";
import type { TaskStatus } from "../../rules/tasks";
import type { ActorCtx } from "../actor";
import { fanoutWindows, findFanout, ouNamesOf } from "./fanout-queries";
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
  return { fanout, pages: () => fanoutWindows(db, fanout.id, WINDOW, (window) => windowRows(db, window)) };
}

async function windowRows(h: DbOrTx, window: SQL): Promise<ExportRow[]> {
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
    .where(window)
    .orderBy(tasks.id);
  // The window's devices' OUs in one read, picked by the window itself: a list of 500 ids
  // would be 500 parameters to build into the statement, for every window.
  const ouNames = await ouNamesOf(h, inArray(deviceOus.deviceId, h.select({ id: tasks.deviceId }).from(tasks).where(window)));
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
