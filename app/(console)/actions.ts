"use server";

import { revalidatePath } from "next/cache";
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { z } from "zod";
import { getAuth } from "@/lib/auth/auth";
import { setActiveOrganization } from "@/lib/orgs/session";
import { dbContext, getSessionContext } from "@/app/_lib/context";
import { formFieldsOrNull } from "@/app/_lib/form";

const switchSchema = z.object({ organizationId: z.string().min(1).max(64) });

/** Makes another of the user's organizations active; an unknown one changes nothing. */
export async function switchOrganization(formData: FormData) {
  const session = await getSessionContext();
  if (!session) redirect("/sign-in");
  // A form action answers with a page, not a result: a bad form, like an unknown
  // organization, changes nothing and lands on the task list.
  const choice = formFieldsOrNull(switchSchema, formData);
  if (choice) await setActiveOrganization(dbContext(), session, choice.organizationId);
  revalidatePath("/", "layout");
  // Codes and devices are per organization: the page the user was on may not exist in the other.
  redirect("/tasks");
}

export async function signOut() {
  await getAuth().api.signOut({ headers: await headers() });
  redirect("/sign-in");
}
