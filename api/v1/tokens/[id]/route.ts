import { apiRoute } from "@/lib/api/http";
import { revokeApiToken } from "@/lib/orgs/orgs";

export const DELETE = apiRoute<{ id: string }>(async ({ db, actor, params }) => {
  await revokeApiToken({ db, actor }, params.id);
  return { revoked: params.id };
});
