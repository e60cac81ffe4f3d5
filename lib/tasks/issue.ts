import { and, eq, sql } from "drizzle-orm";
import type { Tx } from "../../db/client";
import { breathe, pacer, withTransaction } from "../../db/transaction";
import { fanouts, taskCounts, tasks, type FanoutTarget, type Task } from "../../db/schema";
import type { TaskType } from "../../rules/tasks";
import { requireRole, type Actor, type ActorCtx } from "../auth/actor";
import { randomCode, randomCodes } from "../crypto";
import { UnprocessableError } from "../errors";
import { publishInTurns, type TaskTransition } from "../events";
import { idempotencyKeySchema, runOnce } from "../idempotency";
import { parse, toValidationError } from "../validation";
import { issueSchemaAt, PAYLOAD_SCHEMAS, type Payload } from "./schemas";
import { resolveTarget } from "./targets";
import { transitionEvent } from "./transition";

export type IssueResult = {
  fanout: string;
  total: number;
  tasks: { code: string; device: string; status: Task["status"]; expiresAt: Date }[];
};

/** Validates a payload against its type's schema; field errors are prefixed `payload.`. */
export function parsePayload(type: TaskType, payload: unknown): Payload {
  const result = PAYLOAD_SCHEMAS[type].safeParse(payload ?? {});
  if (!result.success) throw toValidationError(result.error, { under: "payload", unknownKeys: (keys) => `${type} takes no ${keys.join(", ")}` });
  const value = result.data as Record<string, unknown>;
  return Object.keys(value).length ? value : null;
}

/** The target as the fan-out records it: the whole organization, or the de-duplicated names. */
const recordedTarget = (t: { devices?: string[]; ous?: string[]; all?: boolean }): FanoutTarget =>
  t.all ? { all: true } : { ...(t.devices?.length ? { devices: [...new Set(t.devices)] } : {}), ...(t.ous?.length ? { ous: [...new Set(t.ous)] } : {}) };

/**
 * Issues one type to a target as a fan-out: every task exists, or none does. Names that do
 * not resolve reject the whole request, listed in the error.
 */
export type IssueRequest = { type?: unknown; payload?: unknown; targets?: unknown; scheduledAt?: unknown; ttlSeconds?: unknown; rerunOf?: string };

export type IssueOptions = {
  /**
   * Called inside the fan-out's transaction with its result, to write what must exist if and
   * only if the fan-out does (an idempotency key's answer, lib/idempotency.ts). What it
   * throws rolls the fan-out back.
   */
  remember?: (tx: Tx, result: IssueResult) => Promise<void> | void;
};

export async function issueFanout(ctx: ActorCtx, raw: IssueRequest, now = new Date(), opts: IssueOptions = {}): Promise<IssueResult> {
  const plan = planIssue(ctx.actor, raw, now);
  // One transaction, however large the target: every task exists, or none does.
  const created = await withTransaction(ctx, (tx) => writeIssue(tx, ctx.actor, plan, opts));
  // Subscribers run synchronously: a large fan-out's events go a few thousand per turn.
  await publishInTurns(created.events);
  return created.result;
}

/**
 * issueFanout as a step of a caller's transaction (a re-run checks its task first): writes
 * the fan-out on `tx` and returns its events, which the caller publishes after its commit.
 */
export async function issueInTx(tx: Tx, actor: Actor, raw: IssueRequest, now = new Date(), opts: IssueOptions = {}): Promise<{ result: IssueResult; events: TaskTransition[] }> {
  return writeIssue(tx, actor, planIssue(actor, raw, now), opts);
}

/** The request checked and its times worked out, before any transaction. */
function planIssue(actor: Actor, raw: IssueRequest, now: Date) {
  requireRole(actor, "READ_WRITE");
  const input = parse(issueSchemaAt(now), raw);
  const payload = parsePayload(input.type, input.payload);
  const scheduledAt = input.scheduledAt ?? null;
  // A time a few seconds ahead is as good as now: treat it as immediate rather than defer.
  const deferred = scheduledAt && scheduledAt.getTime() > now.getTime() ? scheduledAt : null;
  const expiresAt = new Date((deferred ?? now).getTime() + input.ttlSeconds * 1000);
  return { input, payload, deferred, expiresAt, now, rerunOf: raw.rerunOf ?? null };
}

/**
 * Writes a planned fan-out on `tx`. Reading the target and inserting the tasks go a chunk at
 * a time, with a turn of the event loop between chunks, so other requests are served meanwhile.
 */
async function writeIssue(tx: Tx, actor: Actor, plan: ReturnType<typeof planIssue>, opts: IssueOptions): Promise<{ result: IssueResult; events: TaskTransition[] }> {
  const { input, payload, deferred, expiresAt, now } = plan;
  const target = await resolveTarget(tx, actor.organizationId, input.targets);
  if (target.unresolved.length) {
    const list = target.unresolved.map((u) => `${u.name} (${u.reason})`).join(", ");
    throw new UnprocessableError(`These names do not resolve to enabled devices: ${list}`, { targets: [list] }, { unresolved: target.unresolved });
  }
  if (!target.devices.length) {
    throw new UnprocessableError("The target has no enabled devices", { targets: ["The target has no enabled devices"] }, { unresolved: [] });
  }
  const [fanout] = await tx
    .insert(fanouts)
    .values({
      code: randomCode(),
      organizationId: actor.organizationId,
      type: input.type,
      target: recordedTarget(input.targets),
      total: target.devices.length,
      // Every task of a new fan-out is open; the triggers count them down as they finish.
      openTasks: target.devices.length,
      createdBy: actor.userId,
      createdAt: now,
    })
    .returning();
  const status: Task["status"] = deferred ? "SCHEDULED" : "PENDING";
  // One prepared INSERT per task: a 10,000-device fan-out costs what the inserts cost in
  // SQLite, with no SQL built or rows read back per chunk.
  let insert = insertTask.get(tx);
  if (!insert) insertTask.set(tx, (insert = prepareInsertTask(tx)));
  const common = {
    organizationId: actor.organizationId,
    fanoutId: fanout.id,
    type: input.type,
    status,
    payload: payload ? JSON.stringify(payload) : null,
    createdBy: actor.userId,
    at: now.getTime(),
    scheduledAt: deferred?.getTime() ?? null,
    expiresAt: expiresAt.getTime(),
    rerunOf: plan.rerunOf,
  };
  // The answer and the creation events are built chunk by chunk with the inserts.
  const created: IssueResult["tasks"] = [];
  const events: TaskTransition[] = [];
  // The inserts go with turns of the loop between stretches of them: what one costs depends
  // on the file (its size, what of it is cached), so the stretches are timed, not counted.
  // Codes are drawn a block at a time: 100,000 at once are ~60 ms of the loop.
  const CODES_PER_DRAW = 500;
  let codes: string[] = [];
  const pace = pacer();
  for (const [i, d] of target.devices.entries()) {
    if (i % CODES_PER_DRAW === 0) codes = randomCodes(Math.min(CODES_PER_DRAW, target.devices.length - i));
    const code = codes[i % CODES_PER_DRAW];
    const id = Number(insert.run({ ...common, code, deviceId: d.id }).lastInsertRowid);
    created.push({ code, device: d.name, status, expiresAt });
    events.push(transitionEvent({ id, organizationId: actor.organizationId, code, deviceId: d.id, fanoutId: fanout.id, type: input.type, status, updatedAt: now }, null));
    await pace();
  }
  // The last stretch's turn comes before the commit's.
  if (target.devices.length > 1) await breathe();
  // The tasks' counts: one statement for the whole fan-out (see rules/sql.ts).
  await tx
    .insert(taskCounts)
    .values({ organizationId: actor.organizationId, type: input.type, status, n: created.length })
    .onConflictDoUpdate({ target: [taskCounts.organizationId, taskCounts.type, taskCounts.status], set: { n: sql`${taskCounts.n} + ${created.length}` } });
  const result: IssueResult = { fanout: fanout.code, total: created.length, tasks: created };
  await opts.remember?.(tx, result);
  return { result, events };
}

/** What the issue form shows after a submission. */
export type IssueSummary = { fanout: string; total: number; first: string; replayed: boolean };

/**
 * issueFanout for a person's submission of the issue form, named by a key the form made
 * for it: sent again (a double click, a retry after a lost answer) it returns the first
 * submission's summary, marked `replayed`, and creates nothing. The key names the submission
 * whatever it carries, so a retry after a lost answer shows what was issued even if a field
 * was edited meanwhile; the form makes a new key once it has shown a success.
 */
export async function issueFanoutOnce(ctx: ActorCtx, raw: IssueRequest, key: unknown, now = new Date()): Promise<IssueSummary> {
  const claim = { key: parse(idempotencyKeySchema, key), fingerprint: "issue-form" };
  const answer = await runOnce<IssueResult>(
    ctx,
    { needs: "READ_WRITE", claim, now },
    (remember) => issueFanout(ctx, raw, now, { remember }),
    (r) => ({ status: 201, body: { fanout: r.fanout, total: r.total, first: r.tasks[0].code } }),
  );
  return { ...(answer.body as Omit<IssueSummary, "replayed">), replayed: answer.replayed };
}

const insertTask = new WeakMap<Tx, ReturnType<typeof prepareInsertTask>>();
function prepareInsertTask(tx: Tx) {
  // Placeholders inside sql`` reach the driver as given: times as epoch milliseconds, the
  // payload as JSON text (a bare placeholder would go through the column's mapping, which
  // does not expect null).
  const p = (name: string) => sql`${sql.placeholder(name)}`;
  return tx
    .insert(tasks)
    .values({
      code: p("code"),
      organizationId: p("organizationId"),
      deviceId: p("deviceId"),
      fanoutId: p("fanoutId"),
      type: p("type"),
      status: p("status"),
      payload: p("payload"),
      createdBy: p("createdBy"),
      createdAt: p("at"),
      updatedAt: p("at"),
      scheduledAt: p("scheduledAt"),
      expiresAt: p("expiresAt"),
      rerunOf: p("rerunOf"),
    })
    .prepare();
}

const sameOrg = (organizationId: string) => eq(tasks.organizationId, organizationId);
export const codeInOrg = (organizationId: string, code: string) => and(eq(tasks.code, code), sameOrg(organizationId));
