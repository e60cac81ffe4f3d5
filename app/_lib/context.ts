import "server-only";
import { randomUUID } from "node:crypto";
import { headers } from "next/headers";
import { notFound, redirect } from "next/navigation";
import { cache } from "react";
import { getDb } from "@/db/client";
import type { Ctx } from "@/db/transaction";
import type { Actor, ActorCtx } from "@/lib/actor";
import { resolveSession, type SessionContext } from "@/lib/orgs/session";
import { hasAnyUser } from "@/lib/auth/users";
import { isDomainError } from "@/lib/errors";

/** What a verb that acts for no one takes: the process's database. */
export function dbContext(): Ctx {
  return { db: getDb() };
}

/** What a verb acting for someone takes: the process's database and who acts. */
export function actorContext(actor: Actor): ActorCtx {
  return { db: getDb(), actor };
}

/** The request's session, read once per render. */
export const getSessionContext = cache(async (): Promise<SessionContext | null> => {
  const h = await headers();
  return resolveSession(dbContext(), h);
});

/** For pages: the signed-in user's scope, or a redirect to where they can get one. */
export async function requirePageContext(): Promise<SessionContext & { actor: Actor }> {
  const ctx = await getSessionContext();
  if (!ctx) redirect((await hasAnyUser(dbContext())) ? "/sign-in" : "/setup");
  if (!ctx.actor) redirect("/no-organization");
  return ctx as SessionContext & { actor: Actor };
}

/**
 * When a page begins to read what it shows. Its live island sends it with its watch, and the
 * server answers whether anything changed after it (lib/live/protocol.ts, WatchRequest).
 */
export function readingSince(): number {
  return Date.now();
}

/** A fresh id per server render: client islands reset their live state when it changes. */
export function renderId(): string {
  return randomUUID();
}

/** Runs a page's read; a malformed code or another organization's row is simply not here. */
export async function orNotFound<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if (isDomainError(e) && (e.code === "not_found" || e.code === "invalid")) notFound();
    throw e;
  }
}
