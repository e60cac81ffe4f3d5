"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import { getDb } from "@/db/client";
import { runAction, type ActionResult } from "@/app/_lib/action-result";
import { requireRole } from "@/lib/auth/actor";
import { createUser, emailSchema, findUserByEmail, passwordSchema, userNameSchema } from "@/lib/auth/users";
import { ValidationError } from "@/lib/errors";
import {
  addMember,
  createApiToken,
  removeMember,
  revokeApiToken,
  rotateRegistrationToken,
  roleSchema,
  setAutoApprove,
  setMemberRole,
  tokenNameSchema,
} from "@/lib/orgs/orgs";
import { parse } from "@/lib/validation";

// Field shapes only where the verb validates again; the domain's own schemas where the
// error has to land on a form field.
const autoApproveForm = z.object({ autoApprove: z.literal("on").optional() }).transform((f) => f.autoApprove === "on");
const memberForm = z.object({ memberId: z.string().max(64) });
const memberRoleForm = z.object({ memberId: z.string().max(64), role: z.string().max(20) });
const optional = z
  .string()
  .max(200)
  .optional()
  .transform((s) => (s ? s : undefined));
const addMemberForm = z.object({ email: emailSchema, role: roleSchema, name: optional, password: optional });
const newAccount = z.object({ name: userNameSchema, password: passwordSchema });
const tokenForm = z.object({ name: tokenNameSchema, role: roleSchema });
const tokenIdForm = z.object({ id: z.string().max(64) });

const fields = <S extends z.ZodType>(schema: S, formData: FormData): z.output<S> => parse(schema, Object.fromEntries(formData));

function done<T>(result: ActionResult<T>): ActionResult<T> {
  if (result.ok) revalidatePath("/settings");
  return result;
}

export async function setAutoApproveAction(_prev: ActionResult<boolean> | undefined, formData: FormData): Promise<ActionResult<boolean>> {
  return done(
    await runAction((actor) => {
      const value = fields(autoApproveForm, formData);
      setAutoApprove(getDb(), actor, value);
      return value;
    }),
  );
}

export async function rotateRegistrationTokenAction(): Promise<ActionResult> {
  return done(
    await runAction((actor) => {
      rotateRegistrationToken(getDb(), actor);
      return undefined;
    }),
  );
}

export async function setMemberRoleAction(_prev: ActionResult | undefined, formData: FormData): Promise<ActionResult> {
  const result = await runAction((actor) => {
    setMemberRole(getDb(), actor, fields(memberRoleForm, formData));
    return undefined;
  });
  // A demoted user's pages (and the header's role) change too.
  if (result.ok) revalidatePath("/", "layout");
  return result;
}

export async function removeMemberAction(_prev: ActionResult | undefined, formData: FormData): Promise<ActionResult> {
  const result = await runAction((actor) => {
    removeMember(getDb(), actor, fields(memberForm, formData).memberId);
    return undefined;
  });
  if (result.ok) revalidatePath("/", "layout");
  return result;
}

export type AddedMember = { email: string; role: string; created: boolean };

/**
 * Adds a user by email. When no account has that email, the form is asked for a name and
 * an initial password (field errors on both), and the account is created first.
 */
export async function addMemberAction(_prev: ActionResult<AddedMember> | undefined, formData: FormData): Promise<ActionResult<AddedMember>> {
  return done(
    await runAction(async (actor) => {
      // createUser checks no role of its own: only an ADMIN may get this far.
      requireRole(actor, "ADMIN");
      const db = getDb();
      const f = fields(addMemberForm, formData);
      const existing = findUserByEmail(db, f.email);
      if (!existing && !f.name && !f.password) {
        const ask = `No account uses ${f.email} yet: give a name and an initial password to create one`;
        // "account" is no input: it tells the form to show the new-account fields.
        throw new ValidationError(ask, { account: [ask] });
      }
      const userId = existing?.id ?? (await createUser(db, { email: f.email, ...parse(newAccount, { name: f.name ?? "", password: f.password ?? "" }) })).id;
      addMember(db, actor, { userId, role: f.role });
      return { email: f.email, role: f.role, created: !existing };
    }),
  );
}

export type CreatedToken = { secret: string; name: string; role: string };

export async function createApiTokenAction(_prev: ActionResult<CreatedToken> | undefined, formData: FormData): Promise<ActionResult<CreatedToken>> {
  return done(await runAction((actor) => createApiToken(getDb(), actor, fields(tokenForm, formData))));
}

export async function revokeApiTokenAction(_prev: ActionResult | undefined, formData: FormData): Promise<ActionResult> {
  return done(
    await runAction((actor) => {
      revokeApiToken(getDb(), actor, fields(tokenIdForm, formData).id);
      return undefined;
    }),
  );
}
