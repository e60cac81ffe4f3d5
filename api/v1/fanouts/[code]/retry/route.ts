import { apiRoute, parseInput, parseJson, readText } from "@/lib/api/http";
import { answerOnce, idempotencyClaim } from "@/lib/api/idempotency";
import { fanoutCodeParam } from "@/lib/api/schemas";
import { retryResult } from "@/lib/api/serialize";
import { retryFanout, retryRequestSchema } from "@/lib/tasks/fanout-verbs";
import { LEAST_ROLE } from "@/rules/roles";

// The body is optional: none retries the FAILED tasks.
export const POST = apiRoute<{ code: string }>(async ({ req, db, actor, params }) => {
  const text = await readText(req);
  const claim = idempotencyClaim(req, text);
  const code = fanoutCodeParam(params.code);
  const input = parseInput(retryRequestSchema, text.trim() ? parseJson(text) : {});
  return answerOnce({ db, actor, needs: LEAST_ROLE.issue, claim }, (remember) => retryFanout({ db, actor }, code, input, { remember }), 201, retryResult);
});
