import { eq } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "../../db/client";
import { user } from "../../db/schema";
import { ConflictError } from "../errors";
import { parse } from "../validation";
import { getAuth } from "./auth";

export const emailSchema = z.string().trim().toLowerCase().max(254, "Email is at most 254 characters").email("Not an email address");
export const passwordSchema = z.string().min(8, "Password is at least 8 characters").max(128, "Password is at most 128 characters");
export const userNameSchema = z.string().trim().min(1, "Name is required").max(80, "Name is at most 80 characters");

/**
 * Creates a user with an email + password account through better-auth's own adapter and
 * hasher (public sign-up is off: users come from /setup, the seed, or an ADMIN).
 */
export async function createUser(db: Db, input: { email: unknown; name: unknown; password: unknown }) {
  const email = parse(emailSchema, input.email);
  const name = parse(userNameSchema, input.name);
  const password = parse(passwordSchema, input.password);
  if (findUserByEmail(db, email)) throw new ConflictError(`A user with the email ${email} already exists`);
  const ctx = await getAuth().$context;
  const hash = await ctx.password.hash(password);
  const created = await ctx.internalAdapter.createUser({ email, name, emailVerified: true }, { method: "email-password" });
  await ctx.internalAdapter.linkAccount({ userId: created.id, providerId: "credential", accountId: created.id, password: hash });
  return created;
}

export function findUserByEmail(db: Db, email: string) {
  return db.select().from(user).where(eq(user.email, email)).get();
}

export function hasAnyUser(db: Db): boolean {
  return !!db.select({ id: user.id }).from(user).limit(1).get();
}
