import { apiRoute } from "@/lib/api/http";
import { endMemberSessions } from "@/lib/orgs/orgs";

/** Signs a member out everywhere. */
export const DELETE = apiRoute<{ id: string }>(async ({ db, actor, params }) => endMemberSessions({ db, actor }, params.id));
