import { and, eq } from "drizzle-orm";
import type { Db } from "../../db/client";
import { fanouts, tasks, type FanoutTarget, type Task } from "../../db/schema";
import { requireRole, type Actor } from "../auth/actor";
import { randomCode } from "../codes";
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
        createdBy: actor.userId,
        createdAt: now,
      })
      .returning()
      .get();
    const status = deferred ? "SCHEDULED" : "PENDING";
    const rows: Task[] = [];
    // Chunked multi-row inserts: one statement per 500 rows keeps a 10,000-device fan-out
    // to twenty statements inside the one transaction.
    for (let i = 0; i < target.devices.length; i += 500) {
      const chunk = target.devices.slice(i, i + 500).map((d) => ({
        code: randomCode(),
        organizationId: actor.organizationId,
        deviceId: d.id,
        fanoutId: fanout.id,
        type: input.type,
        status,
        payload,
        createdBy: actor.userId,
        createdAt: now,
        updatedAt: now,
        scheduledAt: deferred,
        expiresAt,
        rerunOf: raw.rerunOf ?? null,
      })) satisfies (typeof tasks.$inferInsert)[];
      rows.push(...tx.insert(tasks).values(chunk).returning().all());
    }
    const names = new Map(target.devices.map((d) => [d.id, d.name]));
    return { fanout, rows, names };
  });

  publish(created.rows.map((r) => transitionEvent(r, null)));
  return {
    fanout: created.fanout.code,
    total: created.rows.length,
    tasks: created.rows.map((r) => ({ code: r.code, device: created.names.get(r.deviceId)!, status: r.status, expiresAt: r.expiresAt })),
  };
}

export const sameOrg = (organizationId: string) => eq(tasks.organizationId, organizationId);
export const codeInOrg = (organizationId: string, code: string) => and(eq(tasks.code, code), sameOrg(organizationId));
