import { apiRoute } from "@/lib/api/http";
import { memberView } from "@/lib/api/people";
import { listMembers } from "@/lib/orgs/orgs";

export const GET = apiRoute(async ({ db, actor }) => ({ items: (await listMembers({ db, actor })).map(memberView) }));
