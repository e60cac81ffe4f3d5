import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { z } from "zod";
import type { Tx } from "../../db/client";
import { withTransaction, type Ctx } from "../../db/transaction";
import { unlessTaken } from "../../db/portable";
import { account, user } from "../../db/schema";
import { ConflictError } from "../errors";
import { parse } from "../validation";
import { getAuth } from "./auth";

export const emailSchema = z.string().trim().toLowerCase().max(254, "Email is at most 254 characters").email("Not an email address");
export const passwordSchema = z.string().min(8, "Password is at least 8 characters").max(128, "Password is at most 128 characters");
export const userNameSchema = z.string().trim().min(1, "Name is required").max(80, "Name is at most 80 characters");

export const newUserSchema = z.object({ email: emailSchema, name: userNameSchema, password: passwordSchema });
export type NewUser = { email: string; name: string; passwordHash: string };

/**
 * Hashes a new user's password with better-auth's own hasher (the one sign-in checks
 * against). Slow on purpose, so done before the transaction that stores the user.
 */
export async function prepareUser(input: { email: unknown; name: unknown; password: unknown }): Promise<NewUser> {
  const { email, name, password } = parse(newUserSchema, input);
  const ctx = await getAuth().$context;
  return { email, name, passwordHash: await ctx.password.hash(password) };
}

/**
 * Stores a user with an email + password account inside the caller's transaction, so the
 * user exists together with whatever made them (an organization, a membership) or not at all.
 * Public sign-up is off: users come from /setup, an accepted invitation, or the seed.
 */
export async function insertUser(tx: Tx, u: NewUser) {
  const now = new Date();
  const [created] = await unlessTaken(
    tx.insert(user).values({ id: randomUUID(), email: u.email, name: u.name, emailVerified: true, createdAt: now, updatedAt: now }).returning(),
    user.email,
    () => new ConflictError(`An account with the email ${u.email} already exists`),
  );
  await tx
    .insert(account)
    .values({ id: randomUUID(), userId: created.id, accountId: created.id, providerId: "credential", password: u.passwordHash, createdAt: now, updatedAt: now });
  return created;
}

/** Creates a user on its own (the seed, tests). */
export async function createUser(ctx: Ctx, input: { email: unknown; name: unknown; password: unknown }) {
  const prepared = await prepareUser(input);
  return withTransaction(ctx, (tx) => insertUser(tx, prepared));
}

export async function findUserByEmail(ctx: Ctx, email: string) {
  return (await ctx.db.select().from(user).where(eq(user.email, email)).limit(1))[0];
}

export async function hasAnyUser(ctx: Ctx): Promise<boolean> {
  return !!(await ctx.db.select({ id: user.id }).from(user).limit(1))[0];
}
