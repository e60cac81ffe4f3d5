import type { Metadata } from "next";
import Link from "next/link";
import { signOut } from "@/app/(console)/actions";
import { dbContext, getSessionContext } from "@/app/_lib/context";
import { isDomainError } from "@/lib/errors";
import { findInvitation, type InvitationLookup } from "@/lib/orgs/invitations";
import { AcceptForm, NewAccountForm } from "./invite-forms";

export const metadata: Metadata = { title: "Invitation" };
export const dynamic = "force-dynamic";

async function lookup(secret: string): Promise<InvitationLookup | null> {
  try {
    return await findInvitation(dbContext(), secret);
  } catch (e) {
    if (isDomainError(e)) return null;
    throw e;
  }
}

export default async function InvitePage({ params }: { params: Promise<{ secret: string }> }) {
  const { secret } = await params;
  const ctx = await getSessionContext();
  const inv = await lookup(secret);
  if (!inv) {
    return (
      <>
        <h1 className="text-lg font-semibold">Invitation not valid</h1>
        <p className="mt-2 text-sm text-slate-700">
          This link was used already, revoked, replaced by a newer one, or has expired. Ask an administrator of the organization for a new invitation.
        </p>
        <Link href={ctx ? "/tasks" : "/sign-in"} className="btn mt-4">
          {ctx ? "Go to the console" : "Sign in"}
        </Link>
      </>
    );
  }
  const intro = (
    <>
      <h1 className="text-lg font-semibold">Join {inv.organization}</h1>
      <p className="mt-2 text-sm text-slate-700">
        {inv.invitedBy ?? "An administrator"} invited <span className="font-medium">{inv.email}</span> to <span className="font-medium">{inv.organization}</span> as{" "}
        <span className="font-medium">{inv.role}</span>.
      </p>
    </>
  );
  if (ctx && ctx.user.email === inv.email) {
    return (
      <>
        {intro}
        <AcceptForm secret={secret} organization={inv.organization} />
      </>
    );
  }
  if (ctx) {
    return (
      <>
        {intro}
        <p className="mt-3 text-sm text-slate-700">
          You are signed in as <span className="font-medium">{ctx.user.email}</span>. Sign out, then open this link again to accept it as {inv.email}.
        </p>
        <form action={signOut} className="mt-4">
          <button className="btn">Sign out</button>
        </form>
      </>
    );
  }
  return (
    <>
      {intro}
      <p className="mt-3 text-sm text-slate-700">
        Already have an account with this email?{" "}
        <Link className="font-medium text-sky-800 underline" href={`/sign-in?next=${encodeURIComponent(`/invite/${secret}`)}`}>
          Sign in to accept
        </Link>
        . Otherwise, create it here:
      </p>
      <div className="mt-4">
        <NewAccountForm secret={secret} email={inv.email} />
      </div>
    </>
  );
}
