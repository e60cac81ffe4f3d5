import { PROCESS_DIALECT } from "../dialect";
import * as pg from "./pg";
import * as sqlite from "./sqlite";

// One schema per dialect (drizzle has no dialect-neutral tables): ./sqlite and its twin ./pg,
// each with its own migrations. The process's tables are its dialect's; the domain is typed
// against the SQLite schema, which the PostgreSQL one mirrors column for column (checked by
// tests/unit/schema-parity.test.ts): the query builders render each for its own database.
const chosen = (PROCESS_DIALECT === "pg" ? pg : sqlite) as unknown as typeof sqlite;

export const {
  user,
  session,
  account,
  verification,
  organization,
  member,
  invitation,
  userRelations,
  sessionRelations,
  accountRelations,
  organizationRelations,
  memberRelations,
  invitationRelations,
  orgSettings,
  ous,
  devices,
  deviceOus,
  idempotencyKeys,
  nodes,
  fanouts,
  tasks,
  taskCounts,
  apiTokens,
  auditEvents,
  purgePermits,
  schedules,
  scheduleRuns,
} = chosen;

/** PostgreSQL only: the limits several nodes count together (one SQLite node counts in memory). */
export const rateLimits = PROCESS_DIALECT === "pg" ? pg.rateLimits : undefined;
export const rateLimit = PROCESS_DIALECT === "pg" ? pg.rateLimit : undefined;

export type { ApiToken, AuditEvent, Schedule, ScheduleRun, ScheduleSpec, Device, Fanout, FanoutTarget, Ou, RolloutPlan, Task } from "./sqlite";
