import { z } from "zod";
import { taskCodeSchema } from "../tasks/schemas";
import type { WatchRequest } from "./protocol";

const since = { since: z.number().int().nonnegative().optional() };

/** What a `watch` may ask for, parsed on the server only (the browser ships no zod). */
export const watchSchema = z.union([
  z.object({ org: z.literal(true), ...since }).strict(),
  z.object({ audit: z.literal(true), ...since }).strict(),
  z.object({ task: taskCodeSchema, ...since }).strict(),
  // Fan-outs are named in the same alphabet as tasks.
  z.object({ fanout: taskCodeSchema, ...since }).strict(),
]) satisfies z.ZodType<WatchRequest>;
