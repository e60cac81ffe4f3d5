import { z } from "zod";
import { streamedDownload } from "@/lib/api/export";
import { apiRoute, parseQuery } from "@/lib/api/http";
import { iso } from "@/lib/api/serialize";
import { rowIdSchema } from "@/lib/validation";
import { auditFilterSchema, auditPages } from "@/lib/audit/queries";
import type { AuditEvent } from "@/db/schema";

const exportQuerySchema = auditFilterSchema.extend({
  // A SIEM pulls what came after the last id it has.
  after: rowIdSchema("after is a row id", 0).optional(),
});

/** A row as the export writes it: one JSON object per line, oldest first. */
const line = (r: AuditEvent) =>
  JSON.stringify({
    id: r.id,
    at: iso(r.at),
    actor: r.actor,
    actor_label: r.actorLabel,
    action: r.action,
    target: r.targetType ? { type: r.targetType, id: r.targetId, label: r.targetLabel } : null,
    detail: r.detail,
    address: r.address,
  }) + "\n";

/** GET /api/v1/audit: the organization's audit trail as JSON lines, for ADMINs. */
export const GET = apiRoute(async ({ req, db, actor }) => {
  const { after, ...filter } = parseQuery(exportQuerySchema, new URL(req.url).searchParams);
  return streamedDownload(() => auditPages({ db, actor }, filter, after), {
    head: "",
    body: (rows) => rows.map(line).join(""),
    tail: "",
    contentType: "application/x-ndjson; charset=utf-8",
    filename: "audit.jsonl",
  });
});
