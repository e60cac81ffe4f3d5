import { apiRoute, parseInput, readJson } from "@/lib/api/http";
import { memberView, roleBodySchema } from "@/lib/api/people";
import { NotFoundError } from "@/lib/errors";
import { listMembers, removeMember, setMemberRole } from "@/lib/orgs/orgs";

/** Changes a member's role; their open live connections close at once. */
export const PUT = apiRoute<{ id: string }>(async ({ req, db, actor, params }) => {
  const { role } = parseInput(roleBodySchema, await readJson(req));
  await setMemberRole({ db, actor }, { memberId: params.id, role });
  const m = (await listMembers({ db, actor })).find((x) => x.id === params.id);
  if (!m) throw new NotFoundError("Member");
  return memberView(m);
});

/** Removes a member: their tokens for this organization are revoked, their live connections closed. */
export const DELETE = apiRoute<{ id: string }>(async ({ db, actor, params }) => {
  await removeMember({ db, actor }, params.id);
  return { removed: params.id };
});
