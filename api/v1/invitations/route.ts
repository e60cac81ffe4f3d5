import { apiRoute, created, parseInput, readJson } from "@/lib/api/http";
import { inviteBodySchema, invitationUrl, invitationView } from "@/lib/api/people";
import { inviteMember, listInvitations } from "@/lib/orgs/invitations";

export const GET = apiRoute(async ({ db, actor }) => ({ items: (await listInvitations({ db, actor })).map(invitationView) }));

/** The same answer whether or not the email has an account here: the link is for the person to open. */
export const POST = apiRoute(async ({ req, db, actor }) => {
  const r = await inviteMember({ db, actor }, parseInput(inviteBodySchema, await readJson(req)));
  return created({ email: r.email, role: r.role, expires_at: r.expiresAt.toISOString(), url: invitationUrl(req, r.secret) });
});
