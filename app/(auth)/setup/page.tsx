import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { getDb } from "@/db/client";
import { hasAnyUser } from "@/lib/auth/users";
import { SetupForm } from "./setup-form";

export const metadata: Metadata = { title: "Set up" };
export const dynamic = "force-dynamic";

export default function SetupPage() {
  if (hasAnyUser(getDb())) redirect("/sign-in");
  return (
    <>
      <h1 className="text-lg font-semibold">Set up Taskwire</h1>
      <p className="mb-4 text-sm text-slate-500">Create the first administrator and organization.</p>
      <SetupForm />
    </>
  );
}
