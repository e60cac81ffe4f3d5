// The audit trail of people's actions: what may be recorded, and how each reads. A row is
// written by the verb that makes the change, in the same transaction (lib/audit/record.ts),
// and the database refuses to change it afterwards (rules/sql.ts).

/** Every action the trail records, with how the audit page names it. */
export const AUDIT_ACTIONS = {
  "auth.sign_in": "Signed in",
  "auth.sign_in_failed": "Sign-in failed",
  "org.create": "Created the organization",
  "org.switch": "Switched to this organization",
  "org.auto_approve": "Changed auto-approve",
  "org.registration_token": "Rotated the registration token",
  "org.retention": "Changed how long history is kept",
  "task.issue": "Issued tasks",
  "task.cancel": "Cancelled a task",
  "task.rerun": "Re-ran a task",
  "fanout.pause": "Paused a fan-out",
  "fanout.resume": "Resumed a fan-out",
  "fanout.continue": "Opened a fan-out's next wave",
  "fanout.cancel_rest": "Cancelled the rest of a fan-out",
  "fanout.retry": "Retried a fan-out",
  "device.approve": "Approved a device",
  "device.enable": "Enabled a device",
  "device.disable": "Disabled a device",
  "device.rename": "Renamed a device",
  "device.delete": "Deleted a device",
  "member.invite": "Invited a member",
  "member.invite_revoke": "Revoked an invitation",
  "member.add": "Joined through an invitation",
  "member.role": "Changed a member's role",
  "member.remove": "Removed a member",
  "member.sign_out": "Signed a member out everywhere",
  "token.create": "Created an API token",
  "token.revoke": "Revoked an API token",
  "schedule.create": "Created a schedule",
  "schedule.update": "Changed a schedule",
  "schedule.pause": "Paused a schedule",
  "schedule.resume": "Resumed a schedule",
  "schedule.delete": "Deleted a schedule",
} as const;

export type AuditAction = keyof typeof AUDIT_ACTIONS;
export const AUDIT_ACTION_NAMES = Object.keys(AUDIT_ACTIONS) as [AuditAction, ...AuditAction[]];

/** What an action was done to. */
export const AUDIT_TARGETS = ["organization", "task", "fanout", "device", "member", "invitation", "token", "user", "schedule"] as const;
export type AuditTarget = (typeof AUDIT_TARGETS)[number];

/** The groups the audit page's filter offers, by the action's prefix. */
export const AUDIT_GROUPS = {
  auth: "Sign-in",
  org: "Organization",
  task: "Tasks",
  fanout: "Fan-outs",
  device: "Devices",
  member: "Members",
  token: "API tokens",
  schedule: "Schedules",
} as const satisfies Record<string, string>;

export const auditActionLabel = (action: string): string => (AUDIT_ACTIONS as Record<string, string>)[action] ?? action;

/** Audit rows read per page of the audit page, and per window of the export. */
export const AUDIT_PAGE = 50;
/** How long the trail is kept unless an organization says otherwise: two years. */
export const AUDIT_KEEP_DAYS = 730;
