"use server";

import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { z } from "zod";
import { getAuth } from "@/lib/auth/auth";
import { clientAddress } from "@/lib/auth/origin";
import { setActiveOrganization } from "@/lib/orgs/session";
import type { FieldErrors } from "@/lib/errors";
import { failedAction } from "@/app/_lib/action-result";
import { acceptInvitation, acceptInvitationAsNewUser } from "@/lib/orgs/invitations";
import { dbContext, getSessionContext } from "@/app/_lib/context";
import { formFields, typedBack } from "@/app/_lib/form";

/** A refusal, with what was typed (the password aside) to show again. */
export type InviteState = { message?: string; fieldErrors?: FieldErrors; values?: Record<string, string> } | undefined;

// Field shapes only: the verbs validate names, passwords and the secret themselves.
const acceptForm = z.object({ secret: z.string().max(100) });
const newAccountForm = z.object({ secret: z.string().max(100), name: z.string().max(200), password: z.string().max(200) });

function failure(e: unknown): InviteState {
  const { message, fieldErrors } = failedAction(e, "Accepting an invitation failed");
  return { message, fieldErrors };
}

/** The signed-in person joins, and works in the organization they just joined. */
export async function acceptInvitationAction(_prev: InviteState, formData: FormData): Promise<InviteState> {
  try {
    // Inside the try: reading the session meets the database too.
    const session = await getSessionContext();
    if (!session) return { message: "Sign in first" };
    const { secret } = formFields(acceptForm, formData);
    const joined = await acceptInvitation(dbContext(), secret, { userId: session.user.id, email: session.user.email, address: session.address });
    await setActiveOrganization(dbContext(), session, joined.organizationId, { joined: true });
  } catch (e) {
    return failure(e);
  }
  redirect("/tasks");
}

/** No account yet: create it with the invited email, join, and sign in. */
export async function createAccountAction(_prev: InviteState, formData: FormData): Promise<InviteState> {
  let email: string;
  let password: string;
  try {
    const f = formFields(newAccountForm, formData);
    password = f.password;
    email = (await acceptInvitationAsNewUser(dbContext(), f.secret, { name: f.name, password: f.password, address: clientAddress(await headers()) })).email;
  } catch (e) {
    return { ...failure(e), values: typedBack(formData, ["name"]) };
  }
  try {
    await getAuth().api.signInEmail({ body: { email, password }, headers: await headers() });
  } catch (e) {
    console.error("Signing in after accepting an invitation failed", e);
    redirect("/sign-in");
  }
  redirect("/tasks");
}
