import { eq } from "drizzle-orm";
import type { DbOrTx } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import { devices, fanouts, tasks } from "../../db/schema";
import { statusAllows, ttlSecondsOf } from "../../rules/tasks";
import { requireRole, type Actor, type ActorCtx } from "../actor";
import { ConflictError, NotFoundError, UnprocessableError } from "../errors";
import { publish, publishInTurns } from "../events";
import { auditEventOf, recordAudit } from "../audit/record";
import { parse } from "../validation";
import { abilities } from "./abilities";
import { codeInOrg, issueInTx, withFreshCodes, type IssueOptions, type IssueResult } from "./issue";
import { taskCodeSchema } from "./schemas";
import { transitionTasks } from "./transition";
import { LEAST_ROLE } from "../../rules/roles";

async function findTask(h: DbOrTx, actor: Actor, rawCode: unknown) {
  const code = parse(taskCodeSchema, rawCode);
  const [task] = await h.select().from(tasks).where(codeInOrg(actor.organizationId, code)).limit(1);
  // Another organization's task is "not found", never "forbidden".
  if (!task) throw new NotFoundError(`Task ${code}`);
  return task;
}

/** Cancels a SCHEDULED or PENDING task of the actor's organization. */
export async function cancelTask(ctx: ActorCtx, rawCode: unknown) {
  const { actor } = ctx;
  requireRole(actor, "READ_WRITE");
  // The status is read inside the transaction that moves it: of two cancels at once, the
  // second sees the first's CANCELLED and is refused.
  const { rows, events } = await withTransaction(ctx, async (tx) => {
    const task = await findTask(tx, actor, rawCode);
    if (!abilities(actor, { status: task.status, deviceDeleted: false }).cancel) {
      throw new ConflictError(`Task ${task.code} is ${task.status}; only SCHEDULED or PENDING tasks can be cancelled`);
    }
    // One moment for the move and its audit row: "Cancelled by" is read by it.
    const at = new Date();
    const moved = await transitionTasks(tx, {
      where: eq(tasks.id, task.id),
      from: task.status,
      to: "CANCELLED",
      message: `Cancelled by ${actor.label}`,
      at,
    });
    // Zero rows: the task moved between our read and our write.
    if (!moved.rows.length) {
      const [now] = await tx.select({ status: tasks.status }).from(tasks).where(eq(tasks.id, task.id)).limit(1);
      throw new ConflictError(`Task ${task.code} is ${now?.status ?? "gone"}; only SCHEDULED or PENDING tasks can be cancelled`);
    }
    const audited = await recordAudit(tx, actor, { action: "task.cancel", target: { type: "task", id: task.code, label: task.type }, detail: { from: task.status } }, at);
    return { rows: moved.rows, events: [...moved.events, ...audited] };
  });
  publish(events);
  return rows[0];
}

/** Issues a fresh task repeating a finished one, on the same device, linked by rerunOf. */
export async function rerunTask(ctx: ActorCtx, rawCode: unknown, opts: IssueOptions = {}): Promise<IssueResult> {
  const { actor } = ctx;
  requireRole(actor, LEAST_ROLE.issue);
  // Its code is drawn inside the transaction: one already taken rolls it back, and it runs again.
  const { result, events } = await withFreshCodes(() => withTransaction(ctx, async (tx) => {
    const task = await findTask(tx, actor, rawCode);
    const [device] = await tx.select().from(devices).where(eq(devices.id, task.deviceId)).limit(1);
    const [fanout] = task.fanoutId === null ? [] : await tx.select({ ttlSeconds: fanouts.ttlSeconds }).from(fanouts).where(eq(fanouts.id, task.fanoutId)).limit(1);
    if (!abilities(actor, { status: task.status, deviceDeleted: device.deletedAt !== null }).rerun) {
      if (!statusAllows(task.status).rerun) throw new ConflictError(`Task ${task.code} is ${task.status}; only a finished task can be re-run`);
      throw new UnprocessableError(`Device ${device.name} was deleted; the task cannot be re-run`);
    }
    return issueInTx(
      tx,
      actor,
      {
        type: task.type,
        payload: task.payload ?? undefined,
        targets: { devices: [device.name] },
        ttlSeconds: ttlSecondsOf(task, fanout?.ttlSeconds ?? null),
        rerunOf: task.code,
      },
      undefined,
      {
        ...opts,
        audit: (r) => ({ action: "task.rerun", target: { type: "task", id: task.code, label: task.type }, detail: { task: r.tasks[0].code, fanout: r.fanout, device: device.name } }),
      },
    );
  }));
  await publishInTurns(events);
  publish(auditEventOf(actor));
  return result;
}
