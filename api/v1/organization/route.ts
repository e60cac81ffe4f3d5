import { apiRoute } from "@/lib/api/http";
import { organizationView } from "@/lib/api/serialize";
import { getOrganization } from "@/lib/orgs/orgs";

export const GET = apiRoute(async ({ db, actor }) => organizationView(await getOrganization({ db, actor })));
