"use server";

import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { z } from "zod";
import { failedAction } from "@/app/_lib/action-result";
import { dbContext } from "@/app/_lib/context";
import { formFields, typedBack } from "@/app/_lib/form";
import { getAuth } from "@/lib/auth/auth";
import { clientAddress } from "@/lib/auth/origin";
import { hasAnyUser } from "@/lib/auth/users";
import { isDomainError, type FieldErrors } from "@/lib/errors";
import { setupInstance, setupSchema } from "@/lib/orgs/orgs";

/** A refusal, with what was typed (the password aside) to show again. */
export type SetupState = { message?: string; fieldErrors?: FieldErrors; values?: Record<string, string> } | undefined;

const KEPT = ["orgName", "orgSlug", "name", "email"] as const;

/** Creates the first ADMIN and organization; refused once any user exists. */
export async function setupAction(_prev: SetupState, formData: FormData): Promise<SetupState> {
  const ctx = dbContext();
  let done: boolean;
  try {
    done = await hasAnyUser(ctx);
  } catch (e) {
    return { message: failedAction(e, "Setup failed").message, values: typedBack(formData, KEPT) };
  }
  if (done) redirect("/sign-in");
  let input: z.output<typeof setupSchema>;
  try {
    input = formFields(setupSchema, formData);
  } catch (e) {
    if (!isDomainError(e)) throw e;
    return { message: e.fieldErrors ? "Check the highlighted fields" : e.message, fieldErrors: e.fieldErrors, values: typedBack(formData, KEPT) };
  }
  try {
    await setupInstance(ctx, input, { address: clientAddress(await headers()) });
    await getAuth().api.signInEmail({ body: { email: input.email, password: input.password }, headers: await headers() });
  } catch (e) {
    const { message, fieldErrors } = failedAction(e, "Setup failed");
    return { message, fieldErrors, values: typedBack(formData, KEPT) };
  }
  redirect("/tasks");
}
