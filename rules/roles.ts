export const ROLES = ["READ_ONLY", "READ_WRITE", "ADMIN"] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { READ_ONLY: 0, READ_WRITE: 1, ADMIN: 2 };

export function roleAtLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

/** A token never carries more than its owner has. */
export function lowerRole(a: Role, b: Role): Role {
  return RANK[a] <= RANK[b] ? a : b;
}

/**
 * The least role of the accesses that more than one way in checks, each written here once:
 * issuing tasks (the form, the API, a re-run, a retry, a schedule's run in its owner's name)
 * and reading the audit trail (its page, the API, the live channel's audit room).
 */
export const LEAST_ROLE = { issue: "READ_WRITE", readAudit: "ADMIN" } as const satisfies Record<string, Role>;
