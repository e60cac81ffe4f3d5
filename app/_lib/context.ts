import "server-only";
import { randomUUID } from "node:crypto";
import { headers } from "next/headers";
import { notFound, redirect } from "next/navigation";
import { cache } from "react";
import { getDb } from "@/db/client";
import type { Actor } from "@/lib/auth/actor";
import { resolveSession, type SessionContext } from "@/lib/orgs/session";
import { hasAnyUser } from "@/lib/auth/users";
import { isDomainError } from "@/lib/errors";

/** The request's session, read once per render. */
export const getSessionContext = cache(async (): Promise<SessionContext | null> => {
  const h = await headers();
  return resolveSession(getDb(), h);
});

/** For pages: the signed-in user's scope, or a redirect to where they can get one. */
export async function requirePageContext(): Promise<SessionContext & { actor: Actor }> {
  const ctx = await getSessionContext();
  if (!ctx) redirect(hasAnyUser(getDb()) ? "/sign-in" : "/setup");
  if (!ctx.actor) redirect("/no-organization");
  return ctx as SessionContext & { actor: Actor };
}

/** A fresh id per server render: client islands reset their live state when it changes. */
export function renderId(): string {
  return randomUUID();
}

/** Runs a page's read; a malformed code or another organization's row is simply not here. */
export function orNotFound<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (isDomainError(e) && (e.code === "not_found" || e.code === "invalid")) notFound();
    throw e;
  }
}
