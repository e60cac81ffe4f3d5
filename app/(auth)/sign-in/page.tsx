import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { Suspense } from "react";
import { hasAnyUser } from "@/lib/auth/users";
import { dbContext, getSessionContext } from "@/app/_lib/context";
import { SignInForm } from "./sign-in-form";

export const metadata: Metadata = { title: "Sign in" };

export default async function SignInPage() {
  if (await getSessionContext()) redirect("/tasks");
  if (!(await hasAnyUser(dbContext()))) redirect("/setup");
  return (
    <>
      <h1 className="mb-4 text-lg font-semibold">Sign in</h1>
      <Suspense>
        <SignInForm />
      </Suspense>
    </>
  );
}
