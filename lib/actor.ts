import type { Ctx } from "../db/transaction";
import { roleAtLeast, type Role } from "../rules/roles";
import { ForbiddenError } from "./errors";

/** Who is acting, in which organization, with which role — the scope of every domain verb. */
export type Actor = {
  organizationId: string;
  userId: string | null;
  role: Role;
  /** Shown in messages such as "Cancelled by ada@example.com". */
  label: string;
  /**
   * Who is calling, as "user:<id>" (a session) or "token:<id>" (an API token): what a caller
   * remembers between requests, such as an Idempotency-Key, belongs to this and no other.
   */
  principal?: string;
  /** The client's address, for the audit trail; absent for what no request asked (the clock, the seed). */
  address?: string;
};

/** What a verb acting for someone takes: the database (or the transaction it joins) and who acts. */
export type ActorCtx = Ctx & { actor: Actor };

export function requireRole(actor: Actor, needed: Role): void {
  if (!roleAtLeast(actor.role, needed)) {
    throw new ForbiddenError(
      needed === "ADMIN" ? "Only an ADMIN of this organization may do this" : "Your role is read-only in this organization",
    );
  }
}
