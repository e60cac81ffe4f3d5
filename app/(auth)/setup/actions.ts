"use server";

import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { z } from "zod";
import { dbContext } from "@/app/_lib/context";
import { formFields } from "@/app/_lib/form";
import { getAuth } from "@/lib/auth/auth";
import { clientAddress } from "@/lib/auth/origin";
import { hasAnyUser } from "@/lib/auth/users";
import { isDomainError, type FieldErrors } from "@/lib/errors";
import { setupInstance, setupSchema } from "@/lib/orgs/orgs";

export type SetupState = { message?: string; fieldErrors?: FieldErrors } | undefined;

/** Creates the first ADMIN and organization; refused once any user exists. */
export async function setupAction(_prev: SetupState, formData: FormData): Promise<SetupState> {
  const ctx = dbContext();
  if (await hasAnyUser(ctx)) redirect("/sign-in");
  let input: z.output<typeof setupSchema>;
  try {
    input = formFields(setupSchema, formData);
  } catch (e) {
    if (!isDomainError(e)) throw e;
    return { message: e.fieldErrors ? "Check the highlighted fields" : e.message, fieldErrors: e.fieldErrors };
  }
  try {
    await setupInstance(ctx, input, { address: clientAddress(await headers()) });
    await getAuth().api.signInEmail({ body: { email: input.email, password: input.password }, headers: await headers() });
  } catch (e) {
    if (isDomainError(e)) return { message: e.message, fieldErrors: e.fieldErrors };
    console.error("Setup failed", e);
    return { message: "Setup failed on the server; try again" };
  }
  redirect("/tasks");
}
