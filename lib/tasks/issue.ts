import { and, eq, sql } from "drizzle-orm";
import type { Db } from "../../db/client";
import { fanouts, taskCounts, tasks, type FanoutTarget, type Task } from "../../db/schema";
import { requireRole, type Actor } from "../auth/actor";
import { randomCode, randomCodes } from "../codes";
import { resolveTarget } from "../devices/devices";
import { UnprocessableError, ValidationError } from "../errors";
import { publish } from "../events";
import { parse } from "../validation";
import type { TaskType } from "./constants";
import { issueSchema, PAYLOAD_SCHEMAS, type Payload } from "./schemas";
import { transitionEvent } from "./transition";

export type IssueResult = {
  fanout: string;
  total: number;
  tasks: { code: string; device: string; status: Task["status"]; expiresAt: Date }[];
};

/** Validates a payload against its type's schema; field errors are prefixed `payload.`. */
export function parsePayload(type: TaskType, payload: unknown): Payload {
  const result = PAYLOAD_SCHEMAS[type].safeParse(payload ?? {});
  if (!result.success) {
    const fieldErrors: Record<string, string[]> = {};
    for (const issue of result.error.issues) {
      const key = ["payload", ...issue.path].join(".");
      const message = issue.code === "unrecognized_keys" ? `${type} takes no ${issue.keys.join(", ")}` : issue.message;
      (fieldErrors[key] ??= []).push(message);
    }
    const [key, [message]] = Object.entries(fieldErrors)[0];
    throw new ValidationError(`${key}: ${message}`, fieldErrors);
  }
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

export function issueFanout(db: Db, actor: Actor, raw: IssueRequest, now = new Date()): IssueResult {
  requireRole(actor, "READ_WRITE");
  const input = parse(issueSchema, raw);
  const payload = parsePayload(input.type, input.payload);
  const scheduledAt = input.scheduledAt ?? null;
  if (scheduledAt && scheduledAt.getTime() < now.getTime() - 1000) {
    throw new ValidationError("scheduledAt: The scheduled time is in the past", { scheduledAt: ["The scheduled time is in the past"] });
  }
  // A time a few seconds ahead is as good as now: treat it as immediate rather than defer.
  const deferred = scheduledAt && scheduledAt.getTime() > now.getTime() ? scheduledAt : null;
  const expiresAt = new Date((deferred ?? now).getTime() + input.ttlSeconds * 1000);

  const created = db.transaction((tx) => {
    const target = resolveTarget(tx, actor.organizationId, input.targets);
    if (target.unresolved.length) {
      const list = target.unresolved.map((u) => `${u.name} (${u.reason})`).join(", ");
      throw new UnprocessableError(`These names do not resolve to enabled devices: ${list}`, { targets: [list] }, { unresolved: target.unresolved });
    }
    if (!target.devices.length) {
      throw new UnprocessableError("The target has no enabled devices", { targets: ["The target has no enabled devices"] }, { unresolved: [] });
    }
    const fanout = tx
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
      .returning()
      .get();
    const status: Task["status"] = deferred ? "SCHEDULED" : "PENDING";
    // One prepared INSERT per task: a 10,000-device fan-out costs what the inserts cost in
    // SQLite, with no SQL built or rows read back per chunk.
    let insert = insertTask.get(db);
    if (!insert) insertTask.set(db, (insert = prepareInsertTask(db)));
    const codes = randomCodes(target.devices.length);
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
      rerunOf: raw.rerunOf ?? null,
    };
    const rows = target.devices.map((d, i) => {
      const id = Number(insert.run({ ...common, code: codes[i], deviceId: d.id }).lastInsertRowid);
      return { id, organizationId: actor.organizationId, code: codes[i], deviceId: d.id, device: d.name, fanoutId: fanout.id, type: input.type, status, updatedAt: now };
    });
    // The tasks' counts: one statement for the whole fan-out (see db/triggers.ts).
    tx.insert(taskCounts)
      .values({ organizationId: actor.organizationId, type: input.type, status, n: rows.length })
      .onConflictDoUpdate({ target: [taskCounts.organizationId, taskCounts.type, taskCounts.status], set: { n: sql`${taskCounts.n} + ${rows.length}` } })
      .run();
    return { fanout, rows };
  });

  publish(created.rows.map((r) => transitionEvent(r, null)));
  return {
    fanout: created.fanout.code,
    total: created.rows.length,
    tasks: created.rows.map((r) => ({ code: r.code, device: r.device, status: r.status, expiresAt })),
  };
}

const insertTask = new WeakMap<Db, ReturnType<typeof prepareInsertTask>>();
function prepareInsertTask(db: Db) {
  // Placeholders inside sql`` reach the driver as given: times as epoch milliseconds, the
  // payload as JSON text (a bare placeholder would go through the column's mapping, which
  // does not expect null).
  const p = (name: string) => sql`${sql.placeholder(name)}`;
  return db
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

export const sameOrg = (organizationId: string) => eq(tasks.organizationId, organizationId);
export const codeInOrg = (organizationId: string, code: string) => and(eq(tasks.code, code), sameOrg(organizationId));
