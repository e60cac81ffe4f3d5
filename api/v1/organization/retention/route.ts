import { apiRoute, readJson } from "@/lib/api/http";
import { organizationView } from "@/lib/api/serialize";
import { getOrganization, setRetention } from "@/lib/orgs/orgs";

/** PUT /api/v1/organization/retention { task_days: N | null, audit_days: N } (ADMIN): how long history is kept. */
export const PUT = apiRoute(async ({ req, db, actor }) => {
  await setRetention({ db, actor }, await readJson(req));
  return organizationView(await getOrganization({ db, actor }));
});
