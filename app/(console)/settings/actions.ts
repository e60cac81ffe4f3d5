"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import { runAction, type ActionResult } from "@/app/_lib/action-result";
// Every action's arguments are parsed here: anything but a form is refused as invalid.
import { formFields as fields, noArguments } from "@/app/_lib/form";
import { inviteMember, revokeInvitation } from "@/lib/orgs/invitations";
import {
  createApiToken,
  endMemberSessions,
  removeMember,
  revokeApiToken,
  rotateRegistrationToken,
  roleSchema,
  setAutoApprove,
  setMemberRole,
  setRetention,
  tokenNameSchema,
} from "@/lib/orgs/orgs";

// Field shapes only where the verb validates again; the domain's own schemas where the
// error has to land on a form field.
const autoApproveForm = z.object({ autoApprove: z.literal("on").optional() }).transform((f) => f.autoApprove === "on");
const memberForm = z.object({ memberId: z.string().max(64) });
const memberRoleForm = z.object({ memberId: z.string().max(64), role: z.string().max(20) });
const inviteForm = z.object({ email: z.string().max(300), role: z.string().max(20) });
const invitationIdForm = z.object({ id: z.string().max(64) });
const tokenForm = z.object({ name: tokenNameSchema, role: roleSchema });
const tokenIdForm = z.object({ id: z.string().max(64) });
// Numbers as typed: the verb's schema says what is wrong with them, under their field's name.
const retentionForm = z
  .object({ task_days: z.string().max(12).optional(), task_forever: z.literal("on").optional(), audit_days: z.string().max(12) })
  .transform((f) => ({ task_days: f.task_forever === "on" ? null : Number(f.task_days ?? ""), audit_days: Number(f.audit_days) }));

function done<T>(result: ActionResult<T>): ActionResult<T> {
  if (result.ok) revalidatePath("/settings");
  return result;
}

export async function setAutoApproveAction(_prev: ActionResult<boolean> | undefined, formData: FormData): Promise<ActionResult<boolean>> {
  return done(
    await runAction(async (ctx) => {
      const value = fields(autoApproveForm, formData);
      await setAutoApprove(ctx, value);
      return value;
    }),
  );
}

export async function setRetentionAction(_prev: ActionResult | undefined, formData: FormData): Promise<ActionResult> {
  return done(
    await runAction(async (ctx) => {
      await setRetention(ctx, fields(retentionForm, formData));
      return undefined;
    }),
  );
}

export async function rotateRegistrationTokenAction(...args: unknown[]): Promise<ActionResult> {
  return done(
    await runAction(async (ctx) => {
      noArguments(args);
      await rotateRegistrationToken(ctx);
      return undefined;
    }),
  );
}

export async function setMemberRoleAction(_prev: ActionResult | undefined, formData: FormData): Promise<ActionResult> {
  const result = await runAction(async (ctx) => {
    await setMemberRole(ctx, fields(memberRoleForm, formData));
    return undefined;
  });
  // A demoted user's pages (and the header's role) change too.
  if (result.ok) revalidatePath("/", "layout");
  return result;
}

export async function removeMemberAction(_prev: ActionResult | undefined, formData: FormData): Promise<ActionResult> {
  const result = await runAction(async (ctx) => {
    await removeMember(ctx, fields(memberForm, formData).memberId);
    return undefined;
  });
  if (result.ok) revalidatePath("/", "layout");
  return result;
}

export type Invited = { secret: string; email: string; role: string; expiresAt: string };

/**
 * Invites a person by email; the answer is the same whether or not the email has an account
 * on this instance. The link (built by the page from the secret) is shown once.
 */
export async function inviteMemberAction(_prev: ActionResult<Invited> | undefined, formData: FormData): Promise<ActionResult<Invited>> {
  return done(
    await runAction(async (ctx) => {
      const r = await inviteMember(ctx, fields(inviteForm, formData));
      return { secret: r.secret, email: r.email, role: r.role, expiresAt: r.expiresAt.toISOString() };
    }),
  );
}

export async function revokeInvitationAction(_prev: ActionResult | undefined, formData: FormData): Promise<ActionResult> {
  return done(
    await runAction(async (ctx) => {
      await revokeInvitation(ctx, fields(invitationIdForm, formData).id);
      return undefined;
    }),
  );
}

export async function endMemberSessionsAction(_prev: ActionResult<{ ended: number }> | undefined, formData: FormData): Promise<ActionResult<{ ended: number }>> {
  return done(await runAction((ctx) => endMemberSessions(ctx, fields(memberForm, formData).memberId)));
}

export type CreatedToken = { secret: string; name: string; role: string };

export async function createApiTokenAction(_prev: ActionResult<CreatedToken> | undefined, formData: FormData): Promise<ActionResult<CreatedToken>> {
  return done(await runAction((ctx) => createApiToken(ctx, fields(tokenForm, formData))));
}

export async function revokeApiTokenAction(_prev: ActionResult | undefined, formData: FormData): Promise<ActionResult> {
  return done(
    await runAction(async (ctx) => {
      await revokeApiToken(ctx, fields(tokenIdForm, formData).id);
      return undefined;
    }),
  );
}
