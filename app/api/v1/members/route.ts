import { apiRoute, otherMethods } from "@/lib/api/http";
import { memberView } from "@/lib/api/people";
import { listMembers } from "@/lib/orgs/orgs";

export const dynamic = "force-dynamic";

export const GET = apiRoute(({ db, actor }) => ({ items: listMembers(db, actor).map(memberView) }));

export const { POST, PUT, PATCH, DELETE } = otherMethods("GET");
