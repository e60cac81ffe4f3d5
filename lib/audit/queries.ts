import { and, asc, desc, eq, gt, gte, inArray, like, lt, lte, or, type SQL } from "drizzle-orm";
import { z } from "zod";
import { containsText } from "../../db/portable";
import { auditEvents, type AuditEvent } from "../../db/schema";
import { AUDIT_ACTION_NAMES, AUDIT_GROUPS, AUDIT_PAGE, type AuditAction } from "../../rules/audit";
import { requireRole, type ActorCtx } from "../actor";
import type { Ctx } from "../../db/transaction";
import { LEAST_ROLE } from "../../rules/roles";

// Reading the audit trail: the audit page (newest first, a page at a time) and the export to
// a SIEM (oldest first, from a cursor). Only an organization's ADMINs read its trail.

const GROUPS = Object.keys(AUDIT_GROUPS) as [keyof typeof AUDIT_GROUPS, ...(keyof typeof AUDIT_GROUPS)[]];
const ACTION_OR_GROUP = [...AUDIT_ACTION_NAMES, ...GROUPS] as const;

const day = z.union([z.iso.date(), z.iso.datetime({ offset: true })], { error: () => "A date is YYYY-MM-DD, or a time in ISO 8601 with its offset" });

/** The filters of the audit page's URL and of the export's query, one schema for both. */
export const auditFilterSchema = z
  .object({
    action: z.enum(ACTION_OR_GROUP, { error: () => `Unknown action: an action is one of ${AUDIT_ACTION_NAMES.join(", ")}, or a group (${GROUPS.join(", ")})` }).optional(),
    actor: z.string().trim().min(1).max(200, "At most 200 characters").optional(),
    target: z.string().trim().min(1).max(200, "At most 200 characters").optional(),
    since: day.optional(),
    until: day.optional(),
  })
  .strict();
export type AuditFilter = z.output<typeof auditFilterSchema>;

/** A day's bound: a date alone starts (since) or ends (until) that day in UTC. */
const bound = (v: string, end: boolean) => new Date(v.length === 10 ? `${v}T${end ? "23:59:59.999" : "00:00:00.000"}Z` : v);

function whereOf(organizationId: string, f: AuditFilter): SQL | undefined {
  const action = f.action
    ? (GROUPS as readonly string[]).includes(f.action)
      ? like(auditEvents.action, `${f.action}.%`)
      : eq(auditEvents.action, f.action as AuditAction)
    : undefined;
  return and(
    eq(auditEvents.organizationId, organizationId),
    action,
    f.actor ? containsText(auditEvents.actorLabel, f.actor) : undefined,
    f.target ? or(containsText(auditEvents.targetLabel, f.target), eq(auditEvents.targetId, f.target)) : undefined,
    f.since ? gte(auditEvents.at, bound(f.since, false)) : undefined,
    f.until ? lte(auditEvents.at, bound(f.until, true)) : undefined,
  );
}

/** A page of the trail, newest first, before the row `before` (a keyset cursor), with the next page's cursor. */
export async function listAudit({ db, actor }: ActorCtx, filter: AuditFilter, opts: { before?: number; limit?: number } = {}) {
  requireRole(actor, LEAST_ROLE.readAudit);
  const limit = opts.limit ?? AUDIT_PAGE;
  const rows = await db
    .select()
    .from(auditEvents)
    .where(and(whereOf(actor.organizationId, filter), opts.before ? lt(auditEvents.id, opts.before) : undefined))
    .orderBy(desc(auditEvents.id))
    .limit(limit + 1);
  return { rows: rows.slice(0, limit), next: rows.length > limit ? rows[limit - 1].id : null };
}

/** Rows per window of the export. */
const EXPORT_WINDOW = 1_000;

/**
 * The trail oldest first, after row `after`, a window at a time: a SIEM pulls from its last id.
 * The role is checked when called, before a download's first byte, not at its first pull.
 */
export function auditPages({ db, actor }: ActorCtx, filter: AuditFilter, after = 0): AsyncGenerator<AuditEvent[]> {
  requireRole(actor, LEAST_ROLE.readAudit);
  return windows(db, actor.organizationId, filter, after);
}

async function* windows(db: ActorCtx["db"], organizationId: string, filter: AuditFilter, after: number): AsyncGenerator<AuditEvent[]> {
  let last = after;
  for (;;) {
    const rows = await db
      .select()
      .from(auditEvents)
      .where(and(whereOf(organizationId, filter), gt(auditEvents.id, last)))
      .orderBy(asc(auditEvents.id))
      .limit(EXPORT_WINDOW);
    if (rows.length) yield rows;
    if (rows.length < EXPORT_WINDOW) return;
    last = rows[rows.length - 1].id;
  }
}

/**
 * Who cancelled a task, from the audit trail: its own cancel, the cancel of the rest of its
 * fan-out, or its device's disabling or deletion, whichever came last before it finished.
 */
export async function cancelledBy({ db }: Ctx, task: { organizationId: string; code: string; deviceId: string; fanoutCode: string | null; finishedAt: Date | null }): Promise<string | null> {
  if (!task.finishedAt) return null;
  const [row] = await db
    .select({ label: auditEvents.actorLabel })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.organizationId, task.organizationId),
        lte(auditEvents.at, task.finishedAt),
        or(
          and(eq(auditEvents.targetType, "task"), eq(auditEvents.targetId, task.code), eq(auditEvents.action, "task.cancel")),
          task.fanoutCode ? and(eq(auditEvents.targetType, "fanout"), eq(auditEvents.targetId, task.fanoutCode), eq(auditEvents.action, "fanout.cancel_rest")) : undefined,
          and(eq(auditEvents.targetType, "device"), eq(auditEvents.targetId, task.deviceId), inArray(auditEvents.action, ["device.disable", "device.delete"])),
        ),
      ),
    )
    .orderBy(desc(auditEvents.id))
    .limit(1);
  return row?.label ?? null;
}
