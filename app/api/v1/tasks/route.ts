import { apiRoute, otherMethods, parseInput, parseJson, parseQuery, readText } from "@/lib/api/http";
import { answerOnce, idempotencyClaim } from "@/lib/api/idempotency";
import { issueBodySchema, listQuerySchema } from "@/lib/api/schemas";
import { issueResult, taskItem } from "@/lib/api/serialize";
import { issueFanout } from "@/lib/tasks/issue";
import { pageTasks } from "@/lib/tasks/queries";

export const dynamic = "force-dynamic";

export const GET = apiRoute(async ({ req, db, actor }) => {
  const { page, per_page, ...filter } = parseQuery(listQuerySchema, new URL(req.url).searchParams);
  const result = await pageTasks({ db, actor }, { filter, page, perPage: per_page });
  return { items: result.items.map(taskItem), total: result.total, page: result.page, per_page: result.perPage, pages: result.pages };
});

export const POST = apiRoute(async ({ req, db, actor }) => {
  const text = await readText(req);
  const claim = idempotencyClaim(req, text);
  const input = parseInput(issueBodySchema, parseJson(text));
  return answerOnce({ db, actor, needs: "READ_WRITE", claim }, (remember) => issueFanout({ db, actor }, input, undefined, { remember }), 201, issueResult);
});

export const { PUT, PATCH, DELETE } = otherMethods("GET", "POST");
