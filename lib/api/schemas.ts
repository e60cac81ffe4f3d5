import { z } from "zod";
import { NotFoundError } from "@/lib/errors";
import { DATE_TIME_MESSAGE, isDateTimeString, issueSchema, listFilterSchema, taskCodeSchema } from "@/lib/tasks/schemas";
import { fanoutListFilterSchema } from "@/lib/tasks/fanout-queries";

// The API's input shapes, in snake_case. The rules come from the domain's schemas (the one
// home of each rule); only names and the wire format of times are the API's own.

const wholeNumber = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} is a whole number`)
    .transform(Number)
    .pipe(z.number().min(min, `${name} is at least ${min}`).max(max, `${name} is at most ${max}`));

export const PER_PAGE = { default: 30, max: 100 } as const;

/** Offset pagination, as every list of the API takes it. */
const paging = {
  // An offset past a million pages is not a page anyone asks for; the cap keeps it an integer SQLite accepts.
  page: wholeNumber("page", 1, 1_000_000).default(1),
  per_page: wholeNumber("per_page", 1, PER_PAGE.max).default(PER_PAGE.default),
};

/** GET /api/v1/tasks: the list filters plus offset pagination. */
export const listQuerySchema = listFilterSchema.extend(paging);

const issue = issueSchema.shape;

/** POST /api/v1/tasks, mapped to the domain's camelCase input. Unknown fields are refused. */
export const issueBodySchema = z
  .strictObject({
    type: issue.type,
    payload: issue.payload,
    targets: issue.targets,
    // The API emits ISO 8601 and takes the same; a bare number or "tomorrow" is refused. How
    // far ahead it may be is the domain's rule (issueSchemaAt).
    scheduled_at: z.string({ error: () => DATE_TIME_MESSAGE }).refine(isDateTimeString, DATE_TIME_MESSAGE).nullish(),
    ttl_seconds: issue.ttlSeconds,
    // A preset's name or a policy (rules/rollouts.ts); absent or null: all at once. Its fields
    // are named as here already: the domain parses it, and its errors name them.
    rollout: z.unknown().optional(),
  })
  .transform((b) => ({
    type: b.type,
    payload: b.payload,
    targets: b.targets,
    scheduledAt: b.scheduled_at ? new Date(b.scheduled_at) : null,
    ttlSeconds: b.ttl_seconds,
    rollout: b.rollout,
  }));

/** A task code from the path: one that cannot exist is "not found", like another organization's. */
export function taskCodeParam(raw: string): string {
  if (!taskCodeSchema.safeParse(raw).success) throw new NotFoundError("Task");
  return raw;
}

/** GET /api/v1/fanouts: the fan-out list's filters plus offset pagination. */
export const fanoutListQuerySchema = fanoutListFilterSchema.extend(paging);

/** A fan-out code from the path: one that cannot exist is "not found", like another organization's. */
export function fanoutCodeParam(raw: string): string {
  if (!taskCodeSchema.safeParse(raw).success) throw new NotFoundError("Fan-out");
  return raw;
}
