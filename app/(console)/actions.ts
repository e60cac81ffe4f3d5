"use server";

import { revalidatePath } from "next/cache";
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { z } from "zod";
import { getDb } from "@/db/client";
import { getAuth } from "@/lib/auth/auth";
import { setActiveOrganization } from "@/lib/orgs/session";
import { getSessionContext } from "@/app/_lib/context";
import { formFieldsOrNull } from "@/app/_lib/form";

const switchSchema = z.object({ organizationId: z.string().min(1).max(64) });

/** Makes another of the user's organizations active; an unknown one changes nothing. */
export async function switchOrganization(formData: FormData) {
  const ctx = await getSessionContext();
  if (!ctx) redirect("/sign-in");
  // A form action answers with a page, not a result: a bad form, like an unknown
  // organization, changes nothing and lands on the task list.
  const choice = formFieldsOrNull(switchSchema, formData);
  if (choice) setActiveOrganization(getDb(), ctx, choice.organizationId);
  revalidatePath("/", "layout");
  // Codes and devices are per organization: the page the user was on may not exist in the other.
  redirect("/tasks");
}

export async function signOut() {
  await getAuth().api.signOut({ headers: await headers() });
  redirect("/sign-in");
}
