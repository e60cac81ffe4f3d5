import { apiRoute, parseQuery } from "@/lib/api/http";
import { fanoutListQuerySchema } from "@/lib/api/schemas";
import { fanoutItem } from "@/lib/api/serialize";
import { pageFanouts } from "@/lib/tasks/fanout-queries";

export const GET = apiRoute(async ({ req, db, actor }) => {
  const { page, per_page, ...filter } = parseQuery(fanoutListQuerySchema, new URL(req.url).searchParams);
  const result = await pageFanouts({ db, actor }, { filter, page, perPage: per_page });
  return { items: result.items.map(fanoutItem), total: result.total, page: result.page, per_page: result.perPage, pages: result.pages };
});
