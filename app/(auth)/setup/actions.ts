"use server";

import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { z } from "zod";
import { getDb } from "@/db/client";
import { getAuth } from "@/lib/auth/auth";
import { createUser, emailSchema, hasAnyUser, passwordSchema, userNameSchema } from "@/lib/auth/users";
import { isDomainError, type FieldErrors } from "@/lib/errors";
import { createOrganization, orgNameSchema, slugSchema } from "@/lib/orgs/orgs";
import { toValidationError } from "@/lib/validation";

const setupSchema = z.object({
  name: userNameSchema,
  email: emailSchema,
  password: passwordSchema,
  orgName: orgNameSchema,
  orgSlug: slugSchema,
});

export type SetupState = { message?: string; fieldErrors?: FieldErrors } | undefined;

/** Creates the first ADMIN and organization; refused once any user exists. */
export async function setupAction(_prev: SetupState, formData: FormData): Promise<SetupState> {
  const db = getDb();
  if (hasAnyUser(db)) redirect("/sign-in");
  const parsed = setupSchema.safeParse(Object.fromEntries(formData));
  if (!parsed.success) {
    const e = toValidationError(parsed.error);
    return { message: "Check the highlighted fields", fieldErrors: e.fieldErrors };
  }
  const input = parsed.data;
  try {
    const user = await createUser(db, input);
    createOrganization(db, { name: input.orgName, slug: input.orgSlug, ownerId: user.id });
    await getAuth().api.signInEmail({ body: { email: input.email, password: input.password }, headers: await headers() });
  } catch (e) {
    if (isDomainError(e)) return { message: e.message, fieldErrors: e.fieldErrors };
    console.error("Setup failed", e);
    return { message: "Setup failed on the server; try again" };
  }
  redirect("/tasks");
}
