import { eq } from "drizzle-orm";
import { withTransaction, type Ctx } from "../../db/transaction";
import { session as sessionTable } from "../../db/schema";
import type { Role } from "../../rules/roles";
import type { Actor } from "../actor";
import { getAuth } from "../auth/auth";
import { recordAudit } from "../audit/record";
import { clientAddress } from "../auth/origin";
import { publish } from "../events";
import { actorForToken, membershipsOf } from "./orgs";

export type SessionContext = {
  user: { id: string; email: string; name: string };
  sessionId: string;
  sessionExpiresAt: Date;
  /** The client's address (lib/auth/origin.ts), for the audit trail. */
  address: string;
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
export async function resolveSession(ctx: Ctx, headers: Headers): Promise<SessionContext | null> {
  const found = await getAuth().api.getSession({ headers });
  if (!found) return null;
  const memberships = await membershipsOf(ctx, found.user.id);
  const activeId = (found.session as { activeOrganizationId?: string | null }).activeOrganizationId ?? null;
  let active = memberships.find((m) => m.id === activeId) ?? null;
  if (!active && memberships.length) {
    active = memberships[0];
    const activeId = active.id;
    await withTransaction(ctx, async (tx) => {
      await tx.update(sessionTable).set({ activeOrganizationId: activeId }).where(eq(sessionTable.id, found.session.id));
    });
  }
  return {
    user: { id: found.user.id, email: found.user.email, name: found.user.name },
    sessionId: found.session.id,
    sessionExpiresAt: new Date(found.session.expiresAt),
    address: clientAddress(headers),
    memberships,
    actor: active
      ? { organizationId: active.id, userId: found.user.id, role: active.role, label: found.user.email, principal: `user:${found.user.id}`, address: clientAddress(headers) }
      : null,
    organization: active ? { id: active.id, name: active.name, slug: active.slug } : null,
  };
}

/** The JSON API's caller: a bearer token if one is sent (and then only it), else the session. */
export async function resolveApiActor(ctx: Ctx, headers: Headers): Promise<Actor | null> {
  const authz = headers.get("authorization");
  if (authz !== null) {
    const m = /^Bearer\s+(tw_[0-9A-Za-z]{40})$/.exec(authz.trim());
    const actor = m ? await actorForToken(ctx, m[1]) : null;
    return actor && { ...actor, address: clientAddress(headers) };
  }
  return (await resolveSession(ctx, headers))?.actor ?? null;
}

/**
 * Makes another of the user's organizations active on their session. The session's live
 * sockets watch the old organization: they are closed, and reconnect into the new one.
 */
export async function setActiveOrganization(
  ctx: Ctx,
  session: Pick<SessionContext, "sessionId" | "user" | "address">,
  organizationId: string,
  opts: { joined?: boolean } = {},
): Promise<boolean> {
  const audited = await withTransaction(ctx, async (tx) => {
    // Read afresh: the membership may be minutes old (just accepted) or gone since the page rendered.
    const into = (await membershipsOf({ db: tx }, session.user.id)).find((m) => m.id === organizationId);
    if (!into) return null;
    await tx.update(sessionTable).set({ activeOrganizationId: organizationId }).where(eq(sessionTable.id, session.sessionId));
    // Working in the organization one has just joined is part of joining, which the trail has.
    if (opts.joined) return [];
    const actor: Actor = { organizationId, userId: session.user.id, role: into.role, label: session.user.email, principal: `user:${session.user.id}`, address: session.address };
    return recordAudit(tx, actor, { action: "org.switch", target: { type: "organization", id: organizationId, label: into.name } });
  });
  if (audited) publish([{ kind: "access.changed", sessionId: session.sessionId }, ...audited]);
  return audited !== null;
}
