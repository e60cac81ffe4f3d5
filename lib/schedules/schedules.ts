import { and, asc, desc, eq, inArray, isNotNull, lte, not, sql } from "drizzle-orm";
import { z } from "zod";
import { isBatchCheck, stepOf } from "../../db/batch";
import type { Db, DbOrTx, Tx } from "../../db/client";
import { withTransaction, type Ctx } from "../../db/transaction";
import { anyOf, lockRows, unlessTaken } from "../../db/portable";
import { fanouts, member, scheduleRuns, schedules, user, type Schedule, type ScheduleSpec } from "../../db/schema";
import { LEAST_ROLE, roleAtLeast, type Role } from "../../rules/roles";
import { MISSED_AFTER_MS, SCHEDULE_NAME_MAX, type ScheduleRunOutcome } from "../../rules/schedules";
import { cronProblem, isTimeZone, latestRun, nextRun, nextRuns } from "./cron";
import { requireRole, type Actor, type ActorCtx } from "../actor";
import { recordAudit } from "../audit/record";
import { ConflictError, isDomainError, NotFoundError } from "../errors";
import { publish } from "../events";
import { parse, rowIdSchema } from "../validation";
import { issueFanout, parsePayload } from "../tasks/issue";
import { issueSchema, taskTypeSchema } from "../tasks/schemas";

// Recurring schedules (rules/schedules.ts): the verbs that keep them, and the clock's step
// that runs what is due. A run claims its due time by moving the schedule's next_run_at on,
// checked in the same transaction that writes the run (and, when it issues, the fan-out): of
// two nodes, or a restart racing itself, exactly one writes it.

const cronSchema = z
  .string({ error: () => "A recurrence is a cron expression" })
  .max(100, "A cron expression is at most 100 characters")
  .superRefine((v, ctx) => {
    const problem = cronProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .transform((v) => v.trim());

const timeZoneSchema = z
  .string({ error: () => "A time zone is an IANA name such as Europe/Berlin" })
  .max(64)
  .refine(isTimeZone, { message: "Unknown time zone: use an IANA name such as Europe/Berlin or UTC" });

/** A schedule as the API and the form send it (snake_case); checked whole, each error under its field. */
export const scheduleInputSchema = z
  .object({
    name: z.string().trim().min(1, "Name is required").max(SCHEDULE_NAME_MAX, `Name is at most ${SCHEDULE_NAME_MAX} characters`),
    type: taskTypeSchema,
    payload: z.unknown().optional(),
    targets: issueSchema.shape.targets,
    ttl_seconds: issueSchema.shape.ttlSeconds,
    rollout: issueSchema.shape.rollout,
    cron: cronSchema,
    timezone: timeZoneSchema,
    catch_up: z.boolean({ error: () => "Catch up is true or false" }).default(false),
    // Left out: a new schedule runs, a changed one keeps its state (a paused one stays paused).
    enabled: z.boolean({ error: () => "Enabled is true or false" }).optional(),
  })
  .strict();

type ScheduleInput = z.input<typeof scheduleInputSchema>;

/** The spec kept for the runs: the request as given (the rollout by its own words), checked now and again at each run. */
function specOf(raw: Record<string, unknown>, parsed: z.output<typeof scheduleInputSchema>): ScheduleSpec {
  parsePayload(parsed.type, parsed.payload);
  return { payload: parsed.payload, targets: parsed.targets, ttl_seconds: parsed.ttl_seconds, ...(raw.rollout !== undefined && raw.rollout !== null ? { rollout: raw.rollout } : {}) };
}

const idSchema = rowIdSchema("Not a schedule id");

async function scheduleInOrg(h: DbOrTx, organizationId: string, rawId: unknown): Promise<Schedule> {
  const id = parse(idSchema, rawId);
  const [s] = await h.select().from(schedules).where(and(eq(schedules.id, id), eq(schedules.organizationId, organizationId))).limit(1);
  if (!s) throw new NotFoundError("Schedule");
  return s;
}

/**
 * The schedule a transaction changes, locked first: a second change sent at once (a double
 * click, a pause beside an edit) waits for this one's commit and then reads what it left.
 */
async function scheduleToChange(tx: Tx, organizationId: string, rawId: unknown): Promise<Schedule> {
  const id = parse(idSchema, rawId);
  await lockRows(tx, schedules, and(eq(schedules.id, id), eq(schedules.organizationId, organizationId)));
  return scheduleInOrg(tx, organizationId, id);
}

const target = (s: { id: number; name: string }) => ({ type: "schedule" as const, id: String(s.id), label: s.name });

/** A schedule's name is unique in its organization (the index `schedules_org_name_uidx`). */
const NAME = [schedules.organizationId, schedules.name];

const changed = (organizationId: string, scheduleId: number) => ({ kind: "schedule.changed" as const, organizationId, scheduleId });

/** The row's columns a save writes, from the checked input and whether it runs. */
function columnsOf(input: z.output<typeof scheduleInputSchema>, spec: ScheduleSpec, enabled: boolean, now: Date) {
  return {
    name: input.name,
    type: input.type,
    spec,
    cron: input.cron,
    timezone: input.timezone,
    catchUp: input.catch_up,
    enabled,
    updatedAt: now,
    nextRunAt: enabled ? nextRun(input.cron, input.timezone, now) : null,
  };
}

/**
 * Creates a schedule (no `rawId`) or replaces one's spec and recurrence (and its state, when
 * given), in one transaction with its audit row. The name is unique in the organization.
 */
async function saveSchedule(ctx: ActorCtx, rawId: unknown | null, raw: unknown, now: Date): Promise<Schedule> {
  const { actor } = ctx;
  requireRole(actor, "READ_WRITE");
  const input = parse(scheduleInputSchema, raw);
  const spec = specOf(raw as Record<string, unknown>, input);
  const { row, events } = await withTransaction(ctx, async (tx) => {
    const before = rawId === null ? null : await scheduleToChange(tx, actor.organizationId, rawId);
    const columns = columnsOf(input, spec, input.enabled ?? before?.enabled ?? true, now);
    const taken = () => new ConflictError(`A schedule named ${input.name} already exists`);
    const [row] = before
      ? await unlessTaken(tx.update(schedules).set(columns).where(eq(schedules.id, before.id)).returning(), NAME, taken)
      : await unlessTaken(
          tx
            .insert(schedules)
            .values({ ...columns, organizationId: actor.organizationId, ownerId: actor.userId, createdAt: now })
            .returning(),
          NAME,
          taken,
        );
    const detail = before
      ? { changed: [...(["name", "type", "cron", "timezone", "catchUp", "enabled"] as const).filter((k) => before[k] !== row[k]), ...(JSON.stringify(before.spec) !== JSON.stringify(spec) ? ["spec"] : [])] }
      : { type: row.type, cron: row.cron, timezone: row.timezone, enabled: row.enabled };
    const events = await recordAudit(tx, actor, { action: before ? "schedule.update" : "schedule.create", target: target(row), detail }, now);
    return { row, events };
  });
  publish([...events, changed(actor.organizationId, row.id)]);
  return row;
}

export const createSchedule = (ctx: ActorCtx, raw: unknown, now = new Date()) => saveSchedule(ctx, null, raw, now);
export const updateSchedule = (ctx: ActorCtx, rawId: unknown, raw: unknown, now = new Date()) => saveSchedule(ctx, rawId, raw, now);

/** Pauses (no runs until resumed) or resumes (from the next due time after now: what fell due while paused is not run). */
export async function setScheduleEnabled(ctx: ActorCtx, rawId: unknown, enabled: boolean, now = new Date()) {
  const { actor } = ctx;
  requireRole(actor, "READ_WRITE");
  const { row, events } = await withTransaction(ctx, async (tx) => {
    const s = await scheduleToChange(tx, actor.organizationId, rawId);
    if (s.enabled === enabled) throw new ConflictError(`Schedule ${s.name} is already ${enabled ? "running" : "paused"}`);
    const [row] = await tx
      .update(schedules)
      .set({ enabled, updatedAt: now, nextRunAt: enabled ? nextRun(s.cron, s.timezone, now) : null })
      .where(eq(schedules.id, s.id))
      .returning();
    return { row, events: await recordAudit(tx, actor, { action: enabled ? "schedule.resume" : "schedule.pause", target: target(s) }, now) };
  });
  publish([...events, changed(actor.organizationId, row.id)]);
  return row;
}

/** Deletes a schedule and its list of runs; the fan-outs it issued stay, as any other. */
export async function deleteSchedule(ctx: ActorCtx, rawId: unknown) {
  const { actor } = ctx;
  requireRole(actor, "READ_WRITE");
  const events = await withTransaction(ctx, async (tx) => {
    const s = await scheduleToChange(tx, actor.organizationId, rawId);
    await tx.delete(schedules).where(eq(schedules.id, s.id));
    return recordAudit(tx, actor, { action: "schedule.delete", target: target(s), detail: { cron: s.cron, timezone: s.timezone } });
  });
  publish(events);
}

export type ScheduleView = Schedule & { owner: string | null; nextRuns: Date[] };

const withOwner = { schedule: schedules, owner: user.email };

export async function listSchedules({ db, actor }: ActorCtx, now = new Date()): Promise<ScheduleView[]> {
  const rows = await db.select(withOwner).from(schedules).leftJoin(user, eq(user.id, schedules.ownerId)).where(eq(schedules.organizationId, actor.organizationId)).orderBy(asc(schedules.name));
  return rows.map((r) => ({ ...r.schedule, owner: r.owner, nextRuns: r.schedule.enabled ? nextRuns(r.schedule.cron, r.schedule.timezone, now, 1) : [] }));
}

/** A schedule with its next run times and its most recent runs (with their fan-outs' codes). */
export async function getSchedule({ db, actor }: ActorCtx, rawId: unknown, now = new Date(), runs = 50) {
  const id = parse(idSchema, rawId);
  const [r] = await db.select(withOwner).from(schedules).leftJoin(user, eq(user.id, schedules.ownerId)).where(and(eq(schedules.id, id), eq(schedules.organizationId, actor.organizationId))).limit(1);
  if (!r) throw new NotFoundError("Schedule");
  const list = await db
    .select({ run: scheduleRuns, fanout: fanouts.code })
    .from(scheduleRuns)
    .leftJoin(fanouts, eq(fanouts.id, scheduleRuns.fanoutId))
    .where(eq(scheduleRuns.scheduleId, id))
    .orderBy(desc(scheduleRuns.dueAt))
    .limit(runs);
  return {
    ...r.schedule,
    owner: r.owner,
    nextRuns: r.schedule.enabled ? nextRuns(r.schedule.cron, r.schedule.timezone, now) : [],
    runs: list.map((l) => ({ ...l.run, fanout: l.fanout })),
  };
}
export type ScheduleDetail = Awaited<ReturnType<typeof getSchedule>>;

// ---- the clock's step ----

/** Schedules looked at per step of the clock. */
const DUE_PER_STEP = 100;
const CLAIMED = "schedule-claimed";

/** The soonest due time of any running schedule but those `except` names, for the clock's sleep. */
export async function nextScheduleDue({ db }: { db: Db }, except: readonly number[] = []): Promise<Date | null> {
  const [row] = await db
    .select({ at: sql<number | null>`min(${schedules.nextRunAt})`.mapWith((v) => (v === null ? null : Number(v))) })
    .from(schedules)
    .where(and(eq(schedules.enabled, true), isNotNull(schedules.nextRunAt), except.length ? not(anyOf(schedules.id, except)) : undefined));
  return row?.at ? new Date(row.at) : null;
}

/** Whom a run acts as: its owner, with their role in the organization now; or why it cannot run. */
async function runActor(db: Db, s: Schedule): Promise<Actor | string> {
  if (!s.ownerId) return "Its owner's account no longer exists";
  const [m] = await db
    .select({ role: member.role, email: user.email })
    .from(member)
    .innerJoin(user, eq(user.id, member.userId))
    .where(and(eq(member.userId, s.ownerId), eq(member.organizationId, s.organizationId)))
    .limit(1);
  if (!m) return "Its owner is no longer a member of this organization";
  if (!roleAtLeast(m.role as Role, LEAST_ROLE.issue)) return `Its owner ${m.email} is now ${m.role} and may not issue tasks`;
  return { organizationId: s.organizationId, userId: s.ownerId, role: m.role as Role, label: `schedule "${s.name}" (${m.email})`, principal: `schedule:${s.id}` };
}

/** `failed`: the due schedules whose run failed for a reason not their own (the database's); still due. */
export type RunStepResult = { ran: { scheduleId: number; dueAt: Date; outcome: ScheduleRunOutcome; fanout: string | null }[]; more: boolean; failed: number[] };

/**
 * Runs every schedule due at `now` (up to DUE_PER_STEP of them). A due time missed by more
 * than MISSED_AFTER_MS when the clock looked (`lookedAt`: the start of its run, whose steps
 * may take minutes when hundreds are due at once) was missed while the server was down: it
 * runs once if the schedule catches up, or is recorded as skipped; either way the next due
 * time is the first after now.
 */
export async function runDueSchedules(ctx: { db: Db }, now = new Date(), lookedAt = now): Promise<RunStepResult> {
  const due = await ctx.db
    .select()
    .from(schedules)
    .where(and(eq(schedules.enabled, true), isNotNull(schedules.nextRunAt), lte(schedules.nextRunAt, now)))
    .orderBy(asc(schedules.nextRunAt))
    .limit(DUE_PER_STEP);
  const ran: RunStepResult["ran"] = [];
  const failed: number[] = [];
  for (const s of due) {
    const r = await runOne(ctx, s, now, lookedAt).catch((e) => {
      console.error(`Running schedule ${s.id} failed; the clock tries again`, e);
      failed.push(s.id);
      return null;
    });
    if (r) ran.push(r);
  }
  return { ran, more: due.length === DUE_PER_STEP, failed };
}

async function runOne(ctx: { db: Db }, s: Schedule, now: Date, lookedAt: Date): Promise<RunStepResult["ran"][number] | null> {
  const claimedDue = s.nextRunAt!;
  // Missed while down: the latest missed due time stands for all of them.
  const missed = lookedAt.getTime() - claimedDue.getTime() > MISSED_AFTER_MS;
  const dueAt = missed ? (latestRun(s.cron, s.timezone, now) ?? claimedDue) : claimedDue;
  const next = nextRun(s.cron, s.timezone, now);
  // The claim: this due time, still the schedule's next and the schedule still running.
  const claimed = and(eq(schedules.id, s.id), eq(schedules.nextRunAt, claimedDue), eq(schedules.enabled, true));
  const movedOn = { nextRunAt: next, lastRunAt: dueAt };
  const claim = ctx.db.update(schedules).set(movedOn).where(claimed);
  // When it ran: the moment the run is written, not the step's start (a step runs up to 100).
  const record = (outcome: ScheduleRunOutcome, reason: string | null) => ({ scheduleId: s.id, dueAt, ranAt: new Date(), outcome, reason });

  const settle = async (outcome: ScheduleRunOutcome, reason: string) => {
    const ok = await withTransaction(ctx, async (tx) => {
      const moved = await tx.update(schedules).set(movedOn).where(claimed).returning({ id: schedules.id });
      if (!moved.length) return false;
      await tx.insert(scheduleRuns).values(record(outcome, reason));
      return true;
    });
    if (ok) publish([{ kind: "schedule.ran", organizationId: s.organizationId, scheduleId: s.id }]);
    return ok ? { scheduleId: s.id, dueAt, outcome, fanout: null } : null;
  };

  // This due time has a run already (a clock set back, a due time put back by hand): it is
  // not run twice; the schedule just moves on.
  const [ran] = await ctx.db.select({ id: scheduleRuns.id }).from(scheduleRuns).where(and(eq(scheduleRuns.scheduleId, s.id), eq(scheduleRuns.dueAt, dueAt))).limit(1);
  if (ran) {
    await withTransaction(ctx, (tx) => tx.update(schedules).set({ nextRunAt: next }).where(and(eq(schedules.id, s.id), eq(schedules.nextRunAt, claimedDue))));
    return null;
  }
  if (missed && !s.catchUp) return settle("skipped", `Missed while the server was down (due ${dueAt.toISOString()}); this schedule does not catch up`);
  const actor = await runActor(ctx.db, s);
  if (typeof actor === "string") return settle("skipped", actor);
  try {
    const issued = await issueFanout(
      { db: ctx.db, actor },
      { type: s.type, payload: s.spec.payload, targets: s.spec.targets, ttlSeconds: s.spec.ttl_seconds, rollout: s.spec.rollout },
      now,
      {
        // A person made the schedule (audited); its runs are the clock's.
        audit: null,
        // The claim and the run, in the fan-out's own transaction: no fan-out without them.
        remember: () => [
          { ...stepOf(claim), expectChanges: 1, failure: CLAIMED },
          stepOf(ctx.db.insert(scheduleRuns).values({ ...record("issued", null), fanoutId: sql`${sql.placeholder("fanout")}` }), { fanout: { lastIdOf: 0 } }),
        ],
      },
    );
    publish([{ kind: "schedule.ran", organizationId: s.organizationId, scheduleId: s.id }]);
    return { scheduleId: s.id, dueAt, outcome: "issued", fanout: issued.fanout };
  } catch (e) {
    if (isBatchCheck(e, CLAIMED)) return null;
    // The target resolved to nothing, or the spec no longer holds: recorded, never silent.
    if (isDomainError(e)) return settle(e.code === "unprocessable" ? "skipped" : "failed", e.message);
    throw e;
  }
}

/** Every schedule's runs, for the list's "last run" column: the latest outcome of each. */
export async function lastRuns({ db }: Ctx, ids: number[]) {
  if (!ids.length) return new Map<number, { outcome: ScheduleRunOutcome; dueAt: Date }>();
  const rows = await db
    .select({ scheduleId: scheduleRuns.scheduleId, outcome: scheduleRuns.outcome, dueAt: scheduleRuns.dueAt })
    .from(scheduleRuns)
    .where(and(inArray(scheduleRuns.scheduleId, ids), eq(scheduleRuns.dueAt, sql`(select max(r2.due_at) from schedule_runs r2 where r2.schedule_id = ${scheduleRuns.scheduleId})`)));
  return new Map(rows.map((r) => [r.scheduleId, { outcome: r.outcome, dueAt: r.dueAt }]));
}

export type { ScheduleInput, Ctx };
