import { apiRoute } from "@/lib/api/http";
import { answerOnce, idempotencyClaim } from "@/lib/api/idempotency";
import { taskCodeParam } from "@/lib/api/schemas";
import { issueResult } from "@/lib/api/serialize";
import { rerunTask } from "@/lib/tasks/verbs";
import { LEAST_ROLE } from "@/rules/roles";

// A re-run takes no body: the key names the re-run of this task (method and path).
export const POST = apiRoute<{ code: string }>(async ({ req, db, actor, params }) => {
  const claim = idempotencyClaim(req, "");
  const code = taskCodeParam(params.code);
  return answerOnce({ db, actor, needs: LEAST_ROLE.issue, claim }, (remember) => rerunTask({ db, actor }, code, { remember }), 201, issueResult);
});
