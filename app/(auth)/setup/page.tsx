import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { dbContext } from "@/app/_lib/context";
import { hasAnyUser } from "@/lib/auth/users";
import { SetupForm } from "./setup-form";

export const metadata: Metadata = { title: "Set up" };
export const dynamic = "force-dynamic";

export default async function SetupPage() {
  if (await hasAnyUser(dbContext())) redirect("/sign-in");
  return (
    <>
      <h1 className="text-lg font-semibold">Set up Taskwire</h1>
      <p className="mb-4 text-sm text-slate-500">Create the first administrator and organization.</p>
      <SetupForm />
    </>
  );
}
