import { z } from "zod";
import { allowedOrigins } from "@/lib/auth/origin";
import type { InvitationView } from "@/lib/orgs/invitations";
import type { listMembers } from "@/lib/orgs/orgs";

// Members, invitations and tokens as the API shows them, and the inputs it takes for them.
// Each input names only what the API carries; the verbs validate the values again.

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const roleBodySchema = z.strictObject({ role: z.string({ error: () => "role is required" }).max(20) });
export const inviteBodySchema = z.strictObject({ email: z.string({ error: () => "email is required" }).max(300), role: z.string({ error: () => "role is required" }).max(20) });

export const memberView = (m: Awaited<ReturnType<typeof listMembers>>[number]) => ({ id: m.id, email: m.email, name: m.name, role: m.role, created_at: iso(m.createdAt) });

export const invitationView = (i: InvitationView) => ({ id: i.id, email: i.email, role: i.role, invited_by: i.invitedBy, created_at: iso(i.createdAt), expires_at: iso(i.expiresAt) });

/** The link a person opens to accept: on the public URL, or where this request reached us. */
export function invitationUrl(req: Request, secret: string): string {
  const origin = allowedOrigins(req.headers)[0] ?? "";
  return `${origin}/invite/${secret}`;
}
