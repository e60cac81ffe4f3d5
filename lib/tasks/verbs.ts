import { eq } from "drizzle-orm";
import type { Db } from "../../db/client";
import { devices, tasks } from "../../db/schema";
import { statusAllows } from "../../rules/tasks";
import { requireRole, type Actor } from "../auth/actor";
import { ConflictError, NotFoundError, UnprocessableError } from "../errors";
import { publish } from "../events";
import { parse } from "../validation";
import { abilities } from "./abilities";
import { codeInOrg, issueFanout, type IssueOptions, type IssueResult } from "./issue";
import { taskCodeSchema } from "./schemas";
import { transitionTasks } from "./transition";

function findTask(db: Db, actor: Actor, rawCode: unknown) {
  const code = parse(taskCodeSchema, rawCode);
  const task = db.select().from(tasks).where(codeInOrg(actor.organizationId, code)).get();
  // Another organization's task is "not found", never "forbidden".
  if (!task) throw new NotFoundError(`Task ${code}`);
  return task;
}

/** Cancels a SCHEDULED or PENDING task of the actor's organization. */
export function cancelTask(db: Db, actor: Actor, rawCode: unknown) {
  requireRole(actor, "READ_WRITE");
  const task = findTask(db, actor, rawCode);
  if (!abilities(actor, { status: task.status, deviceDeleted: false }).cancel) {
    throw new ConflictError(`Task ${task.code} is ${task.status}; only SCHEDULED or PENDING tasks can be cancelled`);
  }
  const { rows, events } = transitionTasks(db, {
    where: eq(tasks.id, task.id),
    from: task.status,
    to: "CANCELLED",
    message: `Cancelled by ${actor.label}`,
  });
  // Zero rows: the agent or the clock moved it between our read and our write.
  if (!rows.length) {
    const now = db.select({ status: tasks.status }).from(tasks).where(eq(tasks.id, task.id)).get();
    throw new ConflictError(`Task ${task.code} is ${now?.status ?? "gone"}; only SCHEDULED or PENDING tasks can be cancelled`);
  }
  publish(events);
  return rows[0];
}

/** Issues a fresh task repeating a finished one, on the same device, linked by rerunOf. */
export function rerunTask(db: Db, actor: Actor, rawCode: unknown, opts: IssueOptions = {}): IssueResult {
  requireRole(actor, "READ_WRITE");
  const task = findTask(db, actor, rawCode);
  const device = db.select().from(devices).where(eq(devices.id, task.deviceId)).get()!;
  if (!abilities(actor, { status: task.status, deviceDeleted: device.deletedAt !== null }).rerun) {
    if (!statusAllows(task.status).rerun) throw new ConflictError(`Task ${task.code} is ${task.status}; only a finished task can be re-run`);
    throw new UnprocessableError(`Device ${device.name} was deleted; the task cannot be re-run`);
  }
  return issueFanout(db, actor, {
    type: task.type,
    payload: task.payload ?? undefined,
    targets: { devices: [device.name] },
    rerunOf: task.code,
  }, undefined, opts);
}
