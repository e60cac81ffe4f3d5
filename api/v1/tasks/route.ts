import { apiRoute, parseInput, parseJson, parseQuery, readText } from "@/lib/api/http";
import { answerOnce, idempotencyClaim } from "@/lib/api/idempotency";
import { issueBodySchema, listQuerySchema } from "@/lib/api/schemas";
import { iso, issueResult, taskItem } from "@/lib/api/serialize";
import { historyOf } from "@/lib/orgs/orgs";
import { issueFanout } from "@/lib/tasks/issue";
import { pageTasks } from "@/lib/tasks/queries";
import { LEAST_ROLE } from "@/rules/roles";

export const GET = apiRoute(async ({ req, db, actor }) => {
  const { page, per_page, ...filter } = parseQuery(listQuerySchema, new URL(req.url).searchParams);
  const result = await pageTasks({ db, actor }, { filter, page, perPage: per_page });
  const history = await historyOf({ db, actor });
  return {
    items: result.items.map(taskItem),
    total: result.total,
    page: result.page,
    per_page: result.perPage,
    pages: result.pages,
    // How far back history goes: finished tasks are kept `kept_days` (null: forever).
    history: { kept_days: history.keptDays, oldest_at: iso(history.oldestAt) },
  };
});

export const POST = apiRoute(async ({ req, db, actor }) => {
  const text = await readText(req);
  const claim = idempotencyClaim(req, text);
  const input = parseInput(issueBodySchema, parseJson(text));
  return answerOnce({ db, actor, needs: LEAST_ROLE.issue, claim }, (remember) => issueFanout({ db, actor }, input, undefined, { remember }), 201, issueResult);
});
