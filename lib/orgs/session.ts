import { eq } from "drizzle-orm";
import type { Db } from "../../db/client";
import { session as sessionTable } from "../../db/schema";
import type { Role } from "../../rules/roles";
import type { Actor } from "../auth/actor";
import { getAuth } from "../auth/auth";
import { publish } from "../events";
import { actorForToken, membershipsOf } from "./orgs";

export type SessionContext = {
  user: { id: string; email: string; name: string };
  sessionId: string;
  sessionExpiresAt: Date;
  memberships: { id: string; name: string; slug: string; role: Role }[];
  /** Null when the user belongs to no organization. */
  actor: Actor | null;
  organization: { id: string; name: string; slug: string } | null;
};

/**
 * Reads the session from request headers and settles its active organization: a fresh
 * sign-in has none, and a membership may have been removed since — either way the first
 * remaining membership becomes active, so no page ever runs without a scope.
 */
export async function resolveSession(db: Db, headers: Headers): Promise<SessionContext | null> {
  const found = await getAuth().api.getSession({ headers });
  if (!found) return null;
  const memberships = membershipsOf(db, found.user.id);
  const activeId = (found.session as { activeOrganizationId?: string | null }).activeOrganizationId ?? null;
  let active = memberships.find((m) => m.id === activeId) ?? null;
  if (!active && memberships.length) {
    active = memberships[0];
    db.update(sessionTable).set({ activeOrganizationId: active.id }).where(eq(sessionTable.id, found.session.id)).run();
  }
  return {
    user: { id: found.user.id, email: found.user.email, name: found.user.name },
    sessionId: found.session.id,
    sessionExpiresAt: new Date(found.session.expiresAt),
    memberships,
    actor: active ? { organizationId: active.id, userId: found.user.id, role: active.role, label: found.user.email, principal: `user:${found.user.id}` } : null,
    organization: active ? { id: active.id, name: active.name, slug: active.slug } : null,
  };
}

/** The JSON API's caller: a bearer token if one is sent (and then only it), else the session. */
export async function resolveApiActor(db: Db, headers: Headers): Promise<Actor | null> {
  const authz = headers.get("authorization");
  if (authz !== null) {
    const m = /^Bearer\s+(tw_[0-9A-Za-z]{40})$/.exec(authz.trim());
    return m ? actorForToken(db, m[1]) : null;
  }
  return (await resolveSession(db, headers))?.actor ?? null;
}

/**
 * Makes another of the user's organizations active on their session. The session's live
 * sockets watch the old organization: they are closed, and reconnect into the new one.
 */
export function setActiveOrganization(db: Db, ctx: Pick<SessionContext, "sessionId" | "user">, organizationId: string): boolean {
  // Read afresh: the membership may be minutes old (just accepted) or gone since the page rendered.
  if (!membershipsOf(db, ctx.user.id).some((m) => m.id === organizationId)) return false;
  db.update(sessionTable).set({ activeOrganizationId: organizationId }).where(eq(sessionTable.id, ctx.sessionId)).run();
  publish([{ kind: "access.changed", sessionId: ctx.sessionId }]);
  return true;
}
