import { relations } from "drizzle-orm";
import type * as sqlite from "./sqlite/auth";

// better-auth's relations, the same in both dialects: built once, over either dialect's tables
// (typed as SQLite's; the PostgreSQL twins have the same columns).
type AuthTables = Pick<typeof sqlite, "user" | "session" | "account" | "organization" | "member" | "invitation">;

export function authRelations({ user, session, account, organization, member, invitation }: AuthTables) {
  return {
    userRelations: relations(user, ({ many }) => ({
      sessions: many(session),
      accounts: many(account),
      members: many(member),
      invitations: many(invitation),
    })),
    sessionRelations: relations(session, ({ one }) => ({
      user: one(user, { fields: [session.userId], references: [user.id] }),
    })),
    accountRelations: relations(account, ({ one }) => ({
      user: one(user, { fields: [account.userId], references: [user.id] }),
    })),
    organizationRelations: relations(organization, ({ many }) => ({
      members: many(member),
      invitations: many(invitation),
    })),
    memberRelations: relations(member, ({ one }) => ({
      organization: one(organization, { fields: [member.organizationId], references: [organization.id] }),
      user: one(user, { fields: [member.userId], references: [user.id] }),
    })),
    invitationRelations: relations(invitation, ({ one }) => ({
      organization: one(organization, { fields: [invitation.organizationId], references: [organization.id] }),
      user: one(user, { fields: [invitation.inviterId], references: [user.id] }),
    })),
  };
}
