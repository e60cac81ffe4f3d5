import { signOut } from "@/app/(console)/actions";

export default function NoOrganization() {
  return (
    <>
      <h1 className="text-lg font-semibold">No organization</h1>
      <p className="mt-2 text-sm text-slate-600">Your account is not a member of any organization yet. Ask an administrator to add you.</p>
      <form action={signOut} className="mt-4">
        <button className="btn">Sign out</button>
      </form>
    </>
  );
}
