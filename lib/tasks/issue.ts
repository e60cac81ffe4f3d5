import { PROCESS_DIALECT } from "../../db/dialect";
import { and, count, eq, notExists, sql } from "drizzle-orm";
import { isBatchCheck, joinLines, rowsOf, stepOf, type BatchResults, type BatchStep, type BatchValue } from "../../db/batch";
import type { DbOrTx, Tx } from "../../db/client";
import { isDuplicateOf } from "../../db/portable";
import { pacer, writeBatch } from "../../db/transaction";
import { tasksIssued } from "../../db/statistics";
import { devices, fanouts, taskCounts, tasks, type FanoutTarget, type RolloutPlan, type Task } from "../../db/schema";
import { planWaves, policyProblems, policySummary, policyWithin, type RolloutPolicy } from "../../rules/rollouts";
import type { TaskType } from "../../rules/tasks";
import { requireRole, type Actor, type ActorCtx } from "../actor";
import { randomCode } from "../crypto";
import { randomCodesInOrder } from "./codes-in-order";
import { ConflictError, UnprocessableError } from "../errors";
import { publish, publishInTurns, type TaskTransition } from "../events";
import { auditEventOf, auditStep, type AuditEntry } from "../audit/record";
import { idempotencyKeySchema, runOnce } from "../idempotency";
import { parse, toValidationError } from "../validation";
import { issueSchemaAt, PAYLOAD_SCHEMAS, type Payload } from "./schemas";
import { mayTakeTasks, resolveTarget, type TargetResolution } from "./targets";
import { transitionEvent } from "./transition";
import { LEAST_ROLE } from "../../rules/roles";

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
export type IssueRequest = { type?: unknown; payload?: unknown; targets?: unknown; scheduledAt?: unknown; ttlSeconds?: unknown; rollout?: unknown; rerunOf?: string };

export type IssueOptions = {
  /**
   * The fan-out's devices chosen by the caller instead of `targets` (a retry's): read again
   * if they changed before the fan-out could commit, and recorded as `recorded`.
   */
  target?: {
    recorded: FanoutTarget;
    resolve: (h: DbOrTx) => Promise<TargetResolution>;
    /**
     * Statements that check, in the fan-out's transaction, that what `resolve` read still
     * holds (`fanout` stands for the new fan-out's id): a check that fails reads the target
     * again, as a device changed meanwhile does.
     */
    stillHolds?: (fanout: BatchValue) => BatchStep[];
  };
  /** The fan-out this one retries. */
  retryOf?: number;
  /**
   * A staged rollout's policy as stored (a retry repeats its source's), instead of the
   * request's `rollout`: fitted to the target (policyWithin) once it is resolved.
   */
  policy?: RolloutPolicy;
  /**
   * The statements to write inside the fan-out's transaction with its result, for what must
   * exist if and only if the fan-out does (an idempotency key's answer, lib/idempotency.ts).
   * A check of theirs that fails rolls the fan-out back.
   */
  remember?: (result: IssueResult) => BatchStep[];
  /**
   * What the audit trail records of it, in the same transaction (lib/audit/record.ts): by
   * default "task.issue"; a re-run or a retry says what it is; null for what no person did
   * at that moment (a schedule's run).
   */
  audit?: ((result: IssueResult) => AuditEntry) | null;
};

/** The batch check that every device of a fan-out may still take tasks when it commits. */
const TARGET_CHANGED = "target-changed";
/** Reads of a target that changed before its fan-out could commit, before giving up. */
const ATTEMPTS = 3;

/** Draws of a fan-out's codes before a write that keeps meeting taken ones gives up. */
const CODE_DRAWS = 5;

/**
 * Runs `write`, which draws its codes afresh each time, again when a code it drew was already
 * a task's or a fan-out's: the unique index refused it and nothing was written. Codes are
 * random (lib/crypto.ts, 62^8 of them): among 100 million tasks kept, about one fan-out to
 * 100,000 devices in twenty draws a taken one, and five draws in a row all do about once in
 * five million.
 */
export async function withFreshCodes<T>(write: () => Promise<T>): Promise<T> {
  for (let draw = 1; ; draw++) {
    try {
      return await write();
    } catch (e) {
      if (!isDuplicateOf(e, tasks.code) && !isDuplicateOf(e, fanouts.code)) throw e;
      if (draw === CODE_DRAWS) throw new ConflictError(`Each of ${CODE_DRAWS} draws of codes for the new tasks met one already taken; nothing was issued. Try again.`);
    }
  }
}

export async function issueFanout(ctx: ActorCtx, raw: IssueRequest, now = new Date(), opts: IssueOptions = {}): Promise<IssueResult> {
  const plan = planIssue(ctx.actor, raw, now, opts);
  // The target is read before the transaction, which runs on the bulk writer (db/batch.ts)
  // and checks that every device read may still take tasks: if one no longer may (disabled,
  // deleted meanwhile), nothing is written and the target is read again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await withFreshCodes(async () => {
        const issue = await prepareIssue(ctx.db, ctx.actor, plan, opts);
        const events = await issue.events(await writeBatch(ctx, issue.steps));
        tasksIssued(ctx.db, issue.result.total);
        // Subscribers run synchronously: a large fan-out's events go a few hundred per turn.
        await publishInTurns(events);
        if (opts.audit !== null) publish(auditEventOf(ctx.actor));
        return issue.result;
      });
    } catch (e) {
      if (!isBatchCheck(e, TARGET_CHANGED)) throw e;
      if (attempt === ATTEMPTS) throw new ConflictError("The target's devices kept changing while the fan-out was written; nothing was issued. Try again.");
    }
  }
}

/**
 * issueFanout as a step of a caller's transaction (a re-run checks its task first): writes
 * the fan-out on `tx` and returns its events, which the caller publishes after its commit.
 */
export async function issueInTx(tx: Tx, actor: Actor, raw: IssueRequest, now = new Date(), opts: IssueOptions = {}): Promise<{ result: IssueResult; events: TaskTransition[] }> {
  const issue = await prepareIssue(tx, actor, planIssue(actor, raw, now, opts), opts);
  return { result: issue.result, events: await issue.events(await writeBatch({ db: tx }, issue.steps)) };
}

/** The request checked and its times worked out, before any transaction. */
function planIssue(actor: Actor, raw: IssueRequest, now: Date, opts: IssueOptions) {
  requireRole(actor, LEAST_ROLE.issue);
  // A caller that chooses the devices itself (opts.target) names no targets: the whole
  // organization stands in for them here, and is neither resolved nor recorded.
  const input = parse(issueSchemaAt(now), opts.target ? { ...raw, targets: { all: true } } : raw);
  const payload = parsePayload(input.type, input.payload);
  const scheduledAt = input.scheduledAt ?? null;
  // A time a few seconds ahead is as good as now: treat it as immediate rather than defer.
  const deferred = scheduledAt && scheduledAt.getTime() > now.getTime() ? scheduledAt : null;
  const expiresAt = new Date((deferred ?? now).getTime() + input.ttlSeconds * 1000);
  return { input, payload, deferred, expiresAt, now, rerunOf: raw.rerunOf ?? null, rollout: input.rollout ?? null };
}

/** Codes drawn per call (100,000 at once are ~60 ms of the loop); a turn of the loop every stretch (`pacer()`) of drawing. */
const CODES_PER_DRAW = 500;

/**
 * Reads a planned fan-out's target and builds its transaction as a batch: the fan-out, one
 * prepared INSERT per task, the tasks' counts, a check that every device may still take
 * tasks, and what `remember` adds. Also returns the answer, and the creation events once the
 * batch has given the tasks' ids.
 */
async function prepareIssue(h: DbOrTx, actor: Actor, plan: ReturnType<typeof planIssue>, opts: IssueOptions) {
  const { input, payload, deferred, expiresAt, now } = plan;
  const { organizationId } = actor;
  const target = opts.target ? await opts.target.resolve(h) : await resolveTarget(h, organizationId, input.targets);
  if (target.unresolved.length) {
    const list = target.unresolved.map((u) => `${u.name} (${u.reason})`).join(", ");
    throw new UnprocessableError(`These names do not resolve to enabled devices: ${list}`, { targets: [list] }, { unresolved: target.unresolved });
  }
  if (!target.devices.length) {
    throw new UnprocessableError("The target has no enabled devices", { targets: ["The target has no enabled devices"] }, { unresolved: [] });
  }
  const total = target.devices.length;
  const status: Task["status"] = deferred ? "SCHEDULED" : "PENDING";
  // A staged rollout: every task is written now, in its wave; those of the first wave that
  // fit in flight go out as any fan-out's would, the others wait for their wave (rules/rollouts.ts).
  const policy = opts.policy ? policyWithin(opts.policy, total) : plan.rollout;
  const rollout = policy ? planRollout(policy, total) : null;
  const released = rollout ? Math.min(rollout.sizes[0], rollout.maxInFlight ?? total) : total;
  const fanoutCode = randomCode();
  const pace = pacer();
  // In ascending order, so that the INSERT meets the code's index in its own order.
  const codes = await randomCodesInOrder(total, pace, CODES_PER_DRAW);
  const created: IssueResult["tasks"] = [];
  for (let i = 0; i < total; i++) {
    if (i % CODES_PER_DRAW === 0) await pace();
    created.push({ code: codes[i], device: target.devices[i].name, status: i < released ? status : "SCHEDULED", expiresAt });
  }
  const result: IssueResult = { fanout: fanoutCode, total, tasks: created };
  const fanout = { lastIdOf: 0 };
  const deviceIds = target.devices.map((d) => d.id);
  // Each INSERT's per-row columns: the released tasks, then each wave's waiting ones.
  const columnsOf = async (from: number, to: number) => ({ code: await joinLines(codes, from, to, pace), deviceId: await joinLines(deviceIds, from, to, pace) });
  const waiting = waitingRanges(rollout?.sizes ?? [total], released);
  const releasedColumns = await columnsOf(0, released);
  const waitingColumns: Awaited<ReturnType<typeof columnsOf>>[] = [];
  for (const { from, to } of waiting) waitingColumns.push(await columnsOf(from, to));
  // PostgreSQL's lock and check below name every device of the fan-out.
  const lockedIds = PROCESS_DIALECT !== "pg" ? "" : released === total ? releasedColumns.deviceId : await joinLines(deviceIds, 0, total, pace);
  const common = {
    organizationId,
    fanoutId: fanout,
    type: input.type,
    payload: payload ? JSON.stringify(payload) : null,
    createdBy: actor.userId,
    at: now.getTime(),
    // A waiting task's expiry is written again when its wave releases it.
    expiresAt: expiresAt.getTime(),
    rerunOf: plan.rerunOf,
  };
  const steps: BatchStep[] = [
    {
      ...stepOf(
        h.insert(fanouts).values({
          code: fanoutCode,
          organizationId,
          type: input.type,
          target: opts.target?.recorded ?? recordedTarget(input.targets),
          total,
          // Every task of a new fan-out is open; the triggers count them down as they finish.
          openTasks: total,
          createdBy: actor.userId,
          createdAt: now,
          retryOf: opts.retryOf ?? null,
          ttlSeconds: input.ttlSeconds,
          ...(rollout ? { rollout, wave: 1, waves: rollout.sizes.length, waveOpenedAt: deferred ?? now } : {}),
        }),
      ),
      ids: true,
    },
    // One prepared INSERT per task: a 10,000-device fan-out costs what the inserts cost in
    // SQLite, with no SQL built or rows read back. A rollout's waiting tasks are a second
    // INSERT: SCHEDULED with no time, each with its wave.
    {
      ...taskRows(h, {
        common: { ...common, status, scheduledAt: deferred?.getTime() ?? null, wave: rollout ? 1 : null },
        each: releasedColumns,
        count: released,
      }),
      ids: true,
    },
    ...waiting.map(({ wave, from, to }, k) => ({
      ...taskRows(h, {
        common: { ...common, status: "SCHEDULED", scheduledAt: null, wave },
        each: waitingColumns[k],
        count: to - from,
      }),
      ids: true,
    })),
    // The tasks' counts: one statement per status for the whole fan-out (SQLite; PostgreSQL's
    // insert trigger counts them at commit, see rules/sql.ts).
    ...(PROCESS_DIALECT === "pg"
      ? []
      : countsOf(status, released, total).map(([st, n]) =>
          stepOf(
            h
              .insert(taskCounts)
              .values({ organizationId, type: input.type, status: st, n })
              .onConflictDoUpdate({ target: [taskCounts.organizationId, taskCounts.type, taskCounts.status], set: { n: sql`${taskCounts.n} + ${n}` } }),
          ),
        )),
    // What the caller's target must still be (a retry's: no device retried meanwhile), ahead
    // of the devices' locks below: a lock it waits for is not waited for holding those.
    ...(opts.target?.stillHolds?.(fanout).map((step) => ({ ...step, failure: TARGET_CHANGED })) ?? []),
    // Every device read may still take tasks as the fan-out commits.
    ...(PROCESS_DIALECT === "pg"
      ? [
          {
            // PostgreSQL: each device that may is locked (in id order), and those locked are
            // counted, in one statement. A change of one committed meanwhile, or still open, is
            // waited for and then seen. The devices are named by their keys, as read: no
            // statistics (the devices perhaps made just now) can lead it to another plan than
            // a lookup per key, or one scan of the devices.
            ...stepOf(
              sql`select count(*) from (select 1 from ${devices} where ${devices.id} = any(string_to_array(${sql.placeholder("ids")}, E'\n')) and ${mayTakeTasks(organizationId)} order by ${devices.id} for share) as locked`,
              { ids: lockedIds },
            ),
            expectValue: total,
            failure: TARGET_CHANGED,
          },
        ]
      : [
          {
            // SQLite's writes run one after another: what the check reads is what the commit
            // keeps. A lookup by key per task (not the organization's whole list of devices per fan-out).
            ...stepOf(
              h
                .select({ n: count() })
                .from(tasks)
                .where(and(eq(tasks.fanoutId, sql.placeholder("fanout")), notExists(h.select({ one: sql`1` }).from(devices).where(and(eq(devices.id, tasks.deviceId), mayTakeTasks(organizationId)))))),
              { fanout },
            ),
            expectValue: 0,
            failure: TARGET_CHANGED,
          },
        ]),
    ...(opts.remember?.(result) ?? []),
    ...(opts.audit === null ? [] : [auditStep(h, actor, (opts.audit ?? issuedEntry(plan, opts.target?.recorded ?? recordedTarget(input.targets)))(result), now)]),
  ];
  /** The creation events, once the batch gave the ids; a turn of the loop every stretch (`pacer()`) of building them. */
  const events = async (results: BatchResults): Promise<TaskTransition[]> => {
    const fanoutId = (results[0] as Float64Array)[0];
    // The ids of the released tasks, then of each wave's waiting ones, in the order written.
    const waitingSteps = waiting.length;
    const ids = waitingSteps ? Float64Array.from((results.slice(1, 2 + waitingSteps) as Float64Array[]).flatMap((a) => [...a])) : (results[1] as Float64Array);
    const out: TaskTransition[] = [];
    const paceEvents = pacer();
    for (const [i, d] of target.devices.entries()) {
      const id = ids[i];
      out.push(transitionEvent({ id, organizationId, code: codes[i], deviceId: d.id, fanoutId, type: input.type, status: i < released ? status : "SCHEDULED", updatedAt: now }, null));
      if (i % EVENTS_PER_LOOK === EVENTS_PER_LOOK - 1) await paceEvents();
    }
    return out;
  };
  return { steps, result, events };
}

/** The audit trail's row of a fan-out issued: its code and count, and its target in brief (never 10,000 names). */
const issuedEntry =
  (plan: ReturnType<typeof planIssue>, recorded: FanoutTarget) =>
  (result: IssueResult): AuditEntry => ({
    action: "task.issue",
    target: { type: "fanout", id: result.fanout, label: `${plan.input.type} to ${result.total} device${result.total === 1 ? "" : "s"}` },
    detail: {
      type: plan.input.type,
      total: result.total,
      first: result.tasks[0]?.code,
      target: briefTarget(recorded),
      ...(plan.deferred ? { scheduledAt: plan.deferred.toISOString() } : {}),
      ...(plan.rollout ? { rollout: policySummary(plan.rollout) } : {}),
    },
  });

/** A target as the audit trail keeps it: names when they are few, else how many. */
function briefTarget(t: FanoutTarget): Record<string, unknown> {
  if (t.all) return { all: true };
  const brief = (names: string[]) => (names.length <= 20 ? names : `${names.length} names`);
  return { ...(t.devices ? { devices: brief(t.devices) } : {}), ...(t.ous ? { ous: brief(t.ous) } : {}), ...(t.retry ? { retry: t.retry } : {}) };
}

/** Events built between two looks at the clock. */
const EVENTS_PER_LOOK = 100;

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
    { needs: LEAST_ROLE.issue, claim, now },
    (remember) => issueFanout(ctx, raw, now, { remember }),
    (r) => ({ status: 201, body: { fanout: r.fanout, total: r.total, first: r.tasks[0].code } }),
  );
  return { ...(answer.body as Omit<IssueSummary, "replayed">), replayed: answer.replayed };
}

/** The INSERT of one task, its values named: the batch binds each row's code and device. */
function taskRows(h: DbOrTx, rows: Parameters<typeof rowsOf>[1]): BatchStep {
  // Placeholders inside sql`` reach the driver as given: times as epoch milliseconds, the
  // payload as JSON text (a bare placeholder would go through the column's mapping, which
  // does not expect null).
  const p = (name: string) => sql`${sql.placeholder(name)}`;
  return rowsOf(
    h.insert(tasks).values({
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
      wave: p("wave"),
    }),
    rows,
  );
}

const sameOrg = (organizationId: string) => eq(tasks.organizationId, organizationId);
export const codeInOrg = (organizationId: string, code: string) => and(eq(tasks.code, code), sameOrg(organizationId));

/**
 * A rollout's policy checked against its target (a canary larger than the target, say, is
 * refused naming the field) and its waves planned.
 */
function planRollout(policy: RolloutPolicy, total: number): RolloutPlan {
  const problems = policyProblems(policy, total);
  if (problems) {
    throw new UnprocessableError(Object.values(problems)[0], Object.fromEntries(Object.entries(problems).map(([k, v]) => [k, [v]])));
  }
  return { ...policy, sizes: planWaves(policy, total) };
}

/** The tasks that wait for their wave, as a range of the written order per wave: those of the first past `released`, then every later wave's. */
function waitingRanges(sizes: number[], released: number): { wave: number; from: number; to: number }[] {
  const ranges: { wave: number; from: number; to: number }[] = [];
  let start = 0;
  for (const [i, n] of sizes.entries()) {
    const from = Math.max(start, released);
    if (from < start + n) ranges.push({ wave: i + 1, from, to: start + n });
    start += n;
  }
  return ranges;
}

/** How many tasks a fan-out writes in each status: the released ones in theirs, the waiting ones SCHEDULED. */
function countsOf(status: Task["status"], released: number, total: number): [Task["status"], number][] {
  if (released === total || status === "SCHEDULED") return [[status, total]];
  return [
    [status, released],
    ["SCHEDULED", total - released],
  ];
}
