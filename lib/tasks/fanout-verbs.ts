import { statusIs, fanoutIsOpen } from "./terms";
import { and, asc, count, eq, gt, inArray, isNotNull, ne, sql } from "drizzle-orm";
import { z } from "zod";
import type { DbOrTx } from "../../db/client";
import { pacer, withTransaction, writeBatch } from "../../db/transaction";
import { devices, fanouts, tasks } from "../../db/schema";
import { deviceAllows } from "../../rules/devices";
import { RETRYABLE_STATUSES } from "../../rules/fanouts";
import { CANCELLABLE_STATUSES, OPEN_STATUSES, ttlSecondsOf } from "../../rules/tasks";
import { requireRole, type ActorCtx } from "../actor";
import { ConflictError, UnprocessableError } from "../errors";
import { publish, publishInTurns } from "../events";
import { auditEventOf, auditStep, recordAudit } from "../audit/record";
import { isBatchCheck, stepOf } from "../../db/batch";
import { aloneSteps, changedRows, jsonObject } from "../../db/portable";
import { PROCESS_DIALECT } from "../../db/dialect";
import { parse } from "../validation";
import { failureGroup } from "./failures";
import { findFanout, messageHead } from "./fanout-queries";
import type { Remember } from "../idempotency";
import { issueFanout, type IssueResult } from "./issue";
import type { TargetResolution } from "./targets";
import { BREAKER_BASE_NOW, pauseRow } from "./rollout";
import { cancelFanoutStep, eventsOfRows } from "./transition";
import { LEAST_ROLE } from "../../rules/roles";

// What an admin does to a whole fan-out: retry what failed (or a group of it), and cancel
// what has not run. Each is one verb, for the page's actions and the API alike.

export const retryRequestSchema = z
  .object({
    statuses: z
      .array(z.enum(RETRYABLE_STATUSES, { error: () => `A retry takes ${RETRYABLE_STATUSES.join(" or ")} tasks` }))
      .min(1, `Name at least one status: ${RETRYABLE_STATUSES.join(" or ")}`)
      .max(RETRYABLE_STATUSES.length)
      .optional(),
    group: z.string().max(1_000, "A failure group is at most 1,000 characters").optional(),
  })
  .strict()
  .refine((r) => r.group === undefined || (r.statuses ?? ["FAILED"]).includes("FAILED"), { message: "A failure group is a group of FAILED tasks", path: ["group"] });

/** The open tasks of the open retries of fan-out `sourceId` (tasks joined with their fan-outs): their devices are not sent that retry again. */
const stillRetrying = (sourceId: number) => and(eq(fanouts.retryOf, sourceId), fanoutIsOpen(true), statusIs(...OPEN_STATUSES));

export type RetryResult = IssueResult & { retryOf: string; skipped: { device: string; reason: string }[] };

/** Tasks read per statement when gathering what to retry. */
const PAGE = 1_000;

/**
 * Issues a new fan-out of the same type and payload to the devices whose tasks of this fan-out
 * ended in the given statuses (FAILED by default), or only those of one failure group: linked
 * both ways (`retry_of`). Only devices that may still take tasks are taken; the others are
 * returned as skipped. Nothing to retry, or no device left to take it, is refused.
 */
export async function retryFanout(ctx: ActorCtx, rawCode: unknown, raw: unknown, opts: { remember?: Remember<RetryResult> } = {}): Promise<RetryResult> {
  const { db, actor } = ctx;
  requireRole(actor, LEAST_ROLE.issue);
  const input = parse(retryRequestSchema, raw ?? {});
  const statuses = input.statuses ?? ["FAILED"];
  const source = await findFanout(db, actor.organizationId, rawCode);
  const what = `${statuses.join(" or ")} tasks${input.group !== undefined ? " in that failure group" : ""}`;
  let skipped: RetryResult["skipped"] = [];

  const resolve = async (h: DbOrTx): Promise<TargetResolution> => {
    const taken = new Map<string, { id: string; name: string }>();
    const left = new Map<string, { device: string; reason: string }>();
    // A device whose task in an earlier retry of this fan-out is still open is not sent the
    // task again (a second press, a second admin): it is listed as skipped.
    const retrying = new Map(
      (await h.select({ deviceId: tasks.deviceId, code: fanouts.code }).from(tasks).innerJoin(fanouts, eq(fanouts.id, tasks.fanoutId)).where(stillRetrying(source.id))).map((r) => [
        r.deviceId,
        r.code,
      ]),
    );
    const pace = pacer();
    let last = 0;
    for (;;) {
      if (last) await pace();
      const page = await h
        .select({ id: tasks.id, deviceId: tasks.deviceId, status: tasks.status, head: messageHead, name: devices.name, deviceStatus: devices.status, deletedAt: devices.deletedAt })
        .from(tasks)
        .innerJoin(devices, eq(devices.id, tasks.deviceId))
        .where(and(eq(tasks.fanoutId, source.id), statusIs(...statuses), gt(tasks.id, last)))
        .orderBy(asc(tasks.id))
        .limit(PAGE);
      for (const t of page) {
        if (input.group !== undefined && (t.status !== "FAILED" || failureGroup(t.head) !== input.group)) continue;
        if (t.deletedAt !== null) left.set(t.deviceId, { device: t.name, reason: "device was deleted" });
        else if (retrying.has(t.deviceId)) left.set(t.deviceId, { device: t.name, reason: `already retried in fan-out ${retrying.get(t.deviceId)}, still open` });
        else if (!deviceAllows(t.deviceStatus, "tasks")) left.set(t.deviceId, { device: t.name, reason: `device is ${t.deviceStatus}` });
        else taken.set(t.deviceId, { id: t.deviceId, name: t.name });
      }
      if (page.length < PAGE) break;
      last = page[page.length - 1].id;
    }
    skipped = [...left.values()];
    const field = input.group !== undefined ? "group" : "statuses";
    if (!taken.size && !skipped.length) throw new UnprocessableError(`Fan-out ${source.code} has no ${what} to retry`, { [field]: [`Fan-out ${source.code} has no ${what}`] });
    if (!taken.size) {
      const message = `None of the ${skipped.length} device${skipped.length === 1 ? "" : "s"} with ${what} can take tasks now`;
      throw new UnprocessableError(message, { [field]: [message] }, { skipped });
    }
    return { devices: [...taken.values()], unresolved: [] };
  };

  // The new fan-out repeats the type, the payload and the time to live of the first.
  const [model] = await db
    .select({ type: tasks.type, payload: tasks.payload, createdAt: tasks.createdAt, scheduledAt: tasks.scheduledAt, expiresAt: tasks.expiresAt })
    .from(tasks)
    .where(eq(tasks.fanoutId, source.id))
    .orderBy(asc(tasks.id))
    .limit(1);
  if (!model) throw new UnprocessableError(`Fan-out ${source.code} has no ${what} to retry`, { statuses: [`Fan-out ${source.code} has no tasks left`] });
  const result = await issueFanout(ctx, { type: model.type, payload: model.payload ?? undefined, ttlSeconds: ttlSecondsOf(model, source.ttlSeconds) }, undefined, {
    // The answer stored with an idempotency key is the whole retry's, skipped devices too.
    remember: opts.remember ? (r) => opts.remember!({ ...r, retryOf: source.code, skipped }) : undefined,
    target: {
      recorded: { retry: { of: source.code, statuses, ...(input.group !== undefined ? { group: input.group } : {}) } },
      resolve,
      // Two retries of one fan-out pressed at once: the second waits for the first's commit,
      // then finds its devices retried, reads the target again and skips them.
      stillHolds: (fanout) => [
        ...aloneSteps("fanoutRetries", source.id),
        {
          ...stepOf(
            db
              .select({ n: count() })
              .from(tasks)
              .innerJoin(fanouts, eq(fanouts.id, tasks.fanoutId))
              .where(
                and(
                  stillRetrying(source.id),
                  ne(fanouts.id, sql.placeholder("fanout")),
                  inArray(tasks.deviceId, db.select({ id: tasks.deviceId }).from(tasks).where(eq(tasks.fanoutId, sql.placeholder("fanout")))),
                ),
              ),
            { fanout },
          ),
          expectValue: 0,
        },
      ],
    },
    retryOf: source.id,
    // A staged rollout's retry is staged as it was, its breaker included: a firmware upgrade
    // that failed on 400 devices is not sent to all 400 at once.
    policy: source.rollout ?? undefined,
    audit: (r) => ({
      action: "fanout.retry",
      target: { type: "fanout", id: source.code },
      detail: { fanout: r.fanout, total: r.total, statuses, ...(input.group !== undefined ? { group: input.group } : {}), skipped: skipped.length },
    }),
  });
  return { ...result, retryOf: source.code, skipped };
}

/**
 * Cancels every task of the fan-out that has not started (SCHEDULED or PENDING) in one
 * transaction, each with one message naming the fan-out and who cancelled it. Finished and
 * running tasks are left as they are. With nothing left to cancel (a second admin pressing
 * the same button), it is refused.
 */
export async function cancelFanoutRest(ctx: ActorCtx, rawCode: unknown): Promise<{ fanout: string; cancelled: number }> {
  const { db, actor } = ctx;
  requireRole(actor, "READ_WRITE");
  const source = await findFanout(db, actor.organizationId, rawCode);
  const message = `Cancelled with the rest of fan-out ${source.code} by ${actor.label}`;
  const at = Date.now();
  // On the bulk writer, off the event loop: 100,000 tasks move in one statement per status.
  // With nothing left, the batch is refused and writes nothing at all. On PostgreSQL the
  // fan-out's row is locked first, so that of two cancels at once the second reads what the
  // first left. The audit row counts what its statements cancelled, after them: counted
  // before, an agent's acknowledgement committed in between (it does not wait for the
  // fan-out's row) would leave the trail saying more than happened. Its message names this
  // cancel; a fan-out has nothing left to cancel after one, so no other task has it.
  const inFanout = eq(tasks.fanoutId, source.id);
  const cancellable = db.select({ n: count() }).from(tasks).where(and(inFanout, statusIs(...CANCELLABLE_STATUSES)));
  const cancelledHere = db.select({ n: count() }).from(tasks).where(and(inFanout, statusIs("CANCELLED"), eq(tasks.message, message)));
  const head = [
    ...(PROCESS_DIALECT === "pg" ? [stepOf(sql`select 1 from ${fanouts} where ${fanouts.id} = ${source.id} for update`)] : []),
    { ...stepOf(sql`select case when (${cancellable}) > 0 then 1 else 0 end`), expectValue: 1, failure: NOTHING_TO_CANCEL },
  ];
  const audit = auditStep(db, actor, { action: "fanout.cancel_rest", target: { type: "fanout", id: source.code }, detail: jsonObject({ cancelled: sql`(${cancelledHere})` }) }, new Date(at));
  let results: unknown[][][];
  try {
    const moves = CANCELLABLE_STATUSES.map((from) => cancelFanoutStep(source.id, from, message, at));
    results = (await writeBatch(ctx, [...head, ...moves, audit])).slice(head.length, head.length + moves.length) as unknown[][][];
  } catch (e) {
    if (isBatchCheck(e, NOTHING_TO_CANCEL)) throw new ConflictError(`Fan-out ${source.code} has no SCHEDULED or PENDING tasks left to cancel`);
    throw e;
  }
  const events = CANCELLABLE_STATUSES.flatMap((from, i) => eventsOfRows(results[i], from));
  await publishInTurns(events);
  publish(auditEventOf(actor));
  return { fanout: source.code, cancelled: events.length };
}

const NOTHING_TO_CANCEL = "nothing-to-cancel";

/** The fan-out's row as a pause or a resume found it, to say why it changed nothing. */
async function refusal(h: DbOrTx, id: number, code: string, wanted: "pause" | "resume"): Promise<never> {
  const [now] = await h.select({ openTasks: fanouts.openTasks, pausedAt: fanouts.pausedAt }).from(fanouts).where(eq(fanouts.id, id)).limit(1);
  if (!now || now.openTasks === 0) throw new ConflictError(`Fan-out ${code} has finished; there is nothing left to ${wanted}`);
  throw new ConflictError(wanted === "pause" ? `Fan-out ${code} is already paused` : `Fan-out ${code} is not paused`);
}

/**
 * Pauses a fan-out that still has open tasks: nothing new of it is dispatched until Resume
 * (rules/fanouts.ts); its tasks keep their statuses, and what an agent already holds may run.
 */
export const pauseFanout = (ctx: ActorCtx, rawCode: unknown, reason?: string) => setPaused(ctx, rawCode, true, reason);

/** Resumes a paused fan-out: its waiting tasks go to their agents at once; its breaker counts again from here (what failed before, the admin has seen). */
export const resumeFanout = (ctx: ActorCtx, rawCode: unknown) => setPaused(ctx, rawCode, false);

/** One row changes, guarded by its own state: of two pauses (or a pause and a cancel) at once, the second is told why it changed nothing. */
async function setPaused(ctx: ActorCtx, rawCode: unknown, pause: boolean, reason?: string): Promise<{ fanout: string }> {
  const { db, actor } = ctx;
  requireRole(actor, "READ_WRITE");
  const source = await findFanout(db, actor.organizationId, rawCode);
  const audited = await withTransaction(ctx, async (tx) => {
    const moved = pause
      ? await pauseRow(tx, source.id, reason ?? `Paused by ${actor.label}`, new Date())
      : changedRows(
          await tx
            .update(fanouts)
            .set({ pausedAt: null, pauseReason: null, ...BREAKER_BASE_NOW })
            .where(and(eq(fanouts.id, source.id), isNotNull(fanouts.pausedAt), fanoutIsOpen(true))),
        );
    if (!moved) await refusal(tx, source.id, source.code, pause ? "pause" : "resume");
    return recordAudit(tx, actor, { action: pause ? "fanout.pause" : "fanout.resume", target: { type: "fanout", id: source.code } });
  });
  publish([{ kind: "fanout.changed", organizationId: source.organizationId, fanoutId: source.id, change: pause ? "paused" : "resumed" }, ...audited]);
  return { fanout: source.code };
}
