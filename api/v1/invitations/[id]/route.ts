import { apiRoute } from "@/lib/api/http";
import { revokeInvitation } from "@/lib/orgs/invitations";

export const DELETE = apiRoute<{ id: string }>(async ({ db, actor, params }) => {
  await revokeInvitation({ db, actor }, params.id);
  return { revoked: params.id };
});
