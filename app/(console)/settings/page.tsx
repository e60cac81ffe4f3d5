import type { Metadata } from "next";
import Link from "next/link";
import { Card, EmptyState, Field } from "@/app/_components/card";
import { RelativeTime } from "@/app/_components/relative-time";
import { ScrollRegion } from "@/app/_components/scroll-region";
import { TableHead } from "@/app/_components/table-head";
import { actorContext, requirePageContext } from "@/app/_lib/context";
import { listInvitations } from "@/lib/orgs/invitations";
import { getOrganization, listApiTokens, listMembers } from "@/lib/orgs/orgs";
import { AutoApproveForm, RegistrationToken } from "./enrollment";
import { InvitationRow, InviteMemberForm, MemberRow } from "./members";
import { CreateTokenForm, RevokeToken } from "./tokens";
import { RetentionForm } from "./retention";
import { readEnv } from "@/lib/env";
import { effectiveTaskDays, retentionLine } from "@/rules/retention";

export const metadata: Metadata = { title: "Settings" };
export const dynamic = "force-dynamic";

function AdminsOnly({ children }: { children: React.ReactNode }) {
  return <p className="text-xs text-slate-500">{children}</p>;
}

export default async function SettingsPage() {
  const ctx = await requirePageContext();
  const verbCtx = actorContext(ctx.actor);
  const isAdmin = ctx.actor.role === "ADMIN";
  const org = await getOrganization(verbCtx);
  const members = await listMembers(verbCtx);
  const tokens = isAdmin ? await listApiTokens(verbCtx) : [];
  const invitations = isAdmin ? await listInvitations(verbCtx) : [];
  const ceiling = readEnv().TASKWIRE_RETENTION_MAX_DAYS ?? null;

  return (
    <div className="space-y-5">
      <div>
        <h1 className="text-2xl font-semibold tracking-tight">Settings</h1>
        <p className="text-sm text-slate-500">
          {org.name} · your role is <span className="font-medium text-slate-700">{ctx.actor.role}</span>
          {!isAdmin && " — only ADMINs change these settings"}
        </p>
        {isAdmin && (
          <p className="text-sm">
            <Link href="/settings/audit" className="text-sky-700 hover:underline">
              Audit trail: who did what, when →
            </Link>
          </p>
        )}
      </div>

      <div className="grid gap-5 md:grid-cols-2">
        <Card title="Organization">
          <dl className="divide-y divide-slate-100">
            <Field label="Name">{org.name}</Field>
            <Field label="Slug">
              <span className="font-mono">{org.slug}</span>
            </Field>
            <Field label="Members">{members.length}</Field>
          </dl>
        </Card>

        <Card title="Agent enrollment">
          {isAdmin && org.registrationToken !== null ? (
            <div className="space-y-5">
              <RegistrationToken token={org.registrationToken} />
              <AutoApproveForm value={org.autoApprove} />
            </div>
          ) : (
            <div className="space-y-2">
              <dl>
                <Field label="Auto-approve">{org.autoApprove ? "On: enrolling devices are ENABLED at once" : "Off: enrolling devices wait as PENDING"}</Field>
              </dl>
              <AdminsOnly>Only ADMINs see the registration token and change how devices are approved.</AdminsOnly>
            </div>
          )}
        </Card>
      </div>

      <Card title="History">
        {isAdmin ? (
          <RetentionForm taskDays={org.taskRetentionDays} auditDays={org.auditRetentionDays} ceilingDays={ceiling} />
        ) : (
          <dl>
            <Field label="Finished tasks">{retentionLine(effectiveTaskDays(org.taskRetentionDays, ceiling))}</Field>
            <Field label="Audit trail">Kept {org.auditRetentionDays} days</Field>
          </dl>
        )}
      </Card>

      <Card title="Members">
        <ScrollRegion label="Member list" className="-mx-4 -my-3">
          <table className="w-full text-left text-sm">
            <TableHead columns={["Email", "Name", "Role", "Added"]} actions={isAdmin} />
            <tbody className="divide-y divide-slate-100">
              {members.map((m) =>
                isAdmin ? (
                  <MemberRow
                    key={m.id}
                    organization={org.name}
                    member={{ id: m.id, email: m.email, name: m.name, role: m.role, createdAt: m.createdAt, you: m.userId === ctx.user.id }}
                  />
                ) : (
                  <tr key={m.id} data-member={m.email}>
                    <th scope="row" className="px-4 py-2 text-left font-medium">
                      {m.email}
                    </th>
                    <td className="px-4 py-2">{m.name}</td>
                    <td className="px-4 py-2 font-medium">{m.role}</td>
                    <td className="px-4 py-2 whitespace-nowrap">
                      <RelativeTime value={m.createdAt} />
                    </td>
                  </tr>
                ),
              )}
            </tbody>
          </table>
        </ScrollRegion>
        <div className="mt-6 border-t border-slate-100 pt-4">
          {isAdmin ? (
            <>
              <h3 className="mb-2 text-sm font-semibold text-slate-800">Invite a member</h3>
              <InviteMemberForm />
              {invitations.length > 0 && (
                <ScrollRegion label="Invitations" className="-mx-4 mt-4 border-t border-slate-100">
                  <table className="w-full text-left text-sm">
                    <caption className="px-4 pt-3 text-left text-sm font-semibold text-slate-800">Waiting for an answer</caption>
                    <TableHead columns={["Email", "Role", "Invited by", "Expires"]} actions />
                    <tbody className="divide-y divide-slate-100">
                      {invitations.map((i) => (
                        <InvitationRow key={i.id} invitation={i} />
                      ))}
                    </tbody>
                  </table>
                </ScrollRegion>
              )}
            </>
          ) : (
            <AdminsOnly>Only ADMINs invite members and change roles.</AdminsOnly>
          )}
        </div>
      </Card>

      <Card title="API tokens">
        {isAdmin ? (
          <div className="space-y-4">
            <p className="text-xs text-slate-500">
              A token calls the JSON API as its owner, with the lower of its role and the owner&apos;s. Only a hash is stored.
            </p>
            <CreateTokenForm />
            <ScrollRegion label="Token list" className="-mx-4 -mb-3 border-t border-slate-100">
              <table className="w-full text-left text-sm">
                <TableHead columns={["Name", "Prefix", "Role", "Owner", "Created", "Last used", "Revoked"]} actions />
                <tbody className="divide-y divide-slate-100">
                  {tokens.map((t) => (
                    <tr key={t.id} className={t.revokedAt ? "text-slate-500" : ""} data-token={t.name}>
                      <th scope="row" className="px-4 py-2 text-left font-medium">
                        {t.name}
                      </th>
                      <td className="px-4 py-2 font-mono text-xs">{t.prefix}…</td>
                      <td className="px-4 py-2">{t.role}</td>
                      <td className="px-4 py-2">{t.owner}</td>
                      <td className="px-4 py-2 whitespace-nowrap">
                        <RelativeTime value={t.createdAt} />
                      </td>
                      <td className="px-4 py-2 whitespace-nowrap">
                        <RelativeTime value={t.lastUsedAt} empty="never" />
                      </td>
                      <td className="px-4 py-2 whitespace-nowrap">
                        {t.revokedAt ? <RelativeTime value={t.revokedAt} /> : <span className="text-emerald-700">active</span>}
                      </td>
                      <td className="px-4 py-2 text-right">{!t.revokedAt && <RevokeToken id={t.id} name={t.name} />}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {tokens.length === 0 && <EmptyState title="No API tokens yet">Create one above for a script or CI job.</EmptyState>}
            </ScrollRegion>
          </div>
        ) : (
          <AdminsOnly>Only ADMINs see and manage API tokens.</AdminsOnly>
        )}
      </Card>
    </div>
  );
}
