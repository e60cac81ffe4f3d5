import "server-only";
import { databaseTrouble } from "@/db/client";
import { isDomainError, UNAVAILABLE_MESSAGES, type ErrorCode, type FieldErrors } from "@/lib/errors";
import type { ActorCtx } from "@/lib/actor";
import { actorContext, getSessionContext } from "./context";

export type ActionResult<T = undefined> =
  | ({ ok: true } & (T extends undefined ? { data?: undefined } : { data: T }))
  | { ok: false; code: ErrorCode | "internal"; message: string; fieldErrors?: FieldErrors };

/**
 * Runs a server action's verb for the session's actor (its context: the database and who
 * acts) and maps what it throws, or the promise it returns rejects with, to a typed
 * result a form can show. Unknown errors are logged and answered with a generic message:
 * no stack trace or SQL ever reaches the page.
 */
export async function runAction<T>(fn: (ctx: ActorCtx) => T | Promise<T>): Promise<ActionResult<T>> {
  try {
    // Inside the try: settling the session may write too, and meet a locked database.
    const session = await getSessionContext();
    if (!session?.actor) return { ok: false, code: "unauthorized", message: "Your session has ended; sign in again" };
    const data = await fn(actorContext(session.actor));
    return { ok: true, data } as ActionResult<T>;
  } catch (e) {
    return failedAction(e);
  }
}

/**
 * What an action tells its form about an error it caught: a domain error as it is; the
 * database busy or out of reach as such (nothing changed; try again); anything else logged
 * here (under `what`) and answered generically.
 */
export function failedAction(e: unknown, what = "Action failed"): Extract<ActionResult, { ok: false }> {
  if (isDomainError(e)) return { ok: false, code: e.code, message: e.message, fieldErrors: e.fieldErrors };
  const trouble = databaseTrouble(e);
  if (trouble) return { ok: false, code: "unavailable", message: UNAVAILABLE_MESSAGES[trouble] };
  console.error(what, e);
  return { ok: false, code: "internal", message: "Something went wrong on the server; nothing was changed" };
}
