"use server";

import { revalidatePath } from "next/cache";
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { z } from "zod";
import { getDb } from "@/db/client";
import { getAuth } from "@/lib/auth/auth";
import { setActiveOrganization } from "@/lib/auth/session";
import { getSessionContext } from "@/app/_lib/context";

const switchSchema = z.object({ organizationId: z.string().min(1).max(64) });

/** Makes another of the user's organizations active; an unknown one changes nothing. */
export async function switchOrganization(formData: FormData) {
  const ctx = await getSessionContext();
  if (!ctx) redirect("/sign-in");
  const parsed = switchSchema.safeParse({ organizationId: formData.get("organizationId") });
  if (parsed.success) setActiveOrganization(getDb(), ctx, parsed.data.organizationId);
  revalidatePath("/", "layout");
  // Codes and devices are per organization: the page the user was on may not exist in the other.
  redirect("/tasks");
}

export async function signOut() {
  await getAuth().api.signOut({ headers: await headers() });
  redirect("/sign-in");
}
