import { z } from "zod";
import { taskCodeSchema } from "../tasks/schemas";
import type { WatchRequest } from "./protocol";

/** What a `watch` may ask for, parsed on the server only (the browser ships no zod). */
export const watchSchema = z.union([
  z.object({ org: z.literal(true) }).strict(),
  z.object({ audit: z.literal(true) }).strict(),
  z.object({ task: taskCodeSchema }).strict(),
  // Fan-outs are named in the same alphabet as tasks.
  z.object({ fanout: taskCodeSchema }).strict(),
]) satisfies z.ZodType<WatchRequest>;
