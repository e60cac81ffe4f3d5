import { runStatement } from "../../db/portable";
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Tx } from "../../db/client";
import { breathe, inChunks, pacer, withTransaction, type Ctx } from "../../db/transaction";
import { auditEvents, fanouts, member, scheduleRuns, schedules, tasks, type FanoutTarget } from "../../db/schema";
import { SCHEDULE_PRESETS } from "../../rules/schedules";
import { nextRuns } from "../schedules/cron";
import type { DeviceStatus } from "../../rules/devices";
import { recountStatements } from "../../rules/sql";
import { TASK_TYPES, type TaskStatus, type TaskType } from "../../rules/tasks";
import { createUser, findUserByEmail } from "../auth/users";
import { randomCode, sha256 } from "../crypto";
import { createDevice } from "../devices/devices";
import { createOrganization } from "../orgs/orgs";

export const DEMO_PASSWORD = "taskwire";
export const DEMO_USERS = { admin: "admin@taskwire.local", viewer: "viewer@taskwire.local" } as const;

/** A small deterministic generator, so every demo database tells the same story. */
export function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)],
  };
}

const OK_MESSAGES: Record<TaskType, (r: ReturnType<typeof rng>) => string> = {
  SYNC: (r) => `Configuration applied (revision ${r.int(1200, 9800)}, sha256 ${hex(r, 12)}…); 0 changes pending`,
  PULL: (r) => `Running configuration received (${r.int(38, 220)} KiB, sha256 ${hex(r, 12)}…)`,
  PUSH: (r) => `Fragment merged into /conf/config.xml; ${r.int(1, 14)} section(s) updated`,
  BACKUP: (r) => `Backup stored as config-${r.int(20260101, 20261120)}-${hex(r, 6)}.xml.gz (${r.int(12, 96)} KiB)`,
  RESTART: () => "Agent restart scheduled via rc.d",
  REBOOT: (r) => `Device back online after reboot (${r.int(48, 190)} s)`,
  SHUTDOWN: () => "Appliance powered off cleanly",
  PING: (r) => {
    const n = 4;
    const avg = (r.next() * 40 + 2).toFixed(3);
    return `PING 1.1.1.1: ${n} packets transmitted, ${n} packets received, 0.0% packet loss\nround-trip min/avg/max/stddev = ${(Number(avg) * 0.8).toFixed(3)}/${avg}/${(Number(avg) * 1.3).toFixed(3)}/${(r.next() * 3).toFixed(3)} ms`;
  },
  PLUGIN_INSTALL: (r) => `os-taskwire-agent ${r.pick(["1.8.2", "1.9.0", "1.9.1"])} installed; service restarted`,
  FIRMWARE_UPGRADE: (r) => `Upgraded to ${r.pick(["25.1.4", "25.1.5", "25.7"])}; reboot completed`,
};

const FAIL_MESSAGES: Record<TaskType, string[]> = {
  SYNC: ["configd: template generation failed for OPNsense/IPsec: unknown attribute 'reqid'", "Timeout applying filter rules: pfctl exited 1"],
  PULL: ["read /conf/config.xml: permission denied"],
  PUSH: ["Fragment rejected: XML schema violation at /opnsense/Firewall/Alias[3]"],
  BACKUP: ["Upload to storage failed: 507 Insufficient Storage", "gzip: stdout: No space left on device"],
  RESTART: ["service taskwire_agent restart: rc.d script exited 1"],
  REBOOT: ["Device did not come back within 10 minutes"],
  SHUTDOWN: ["shutdown -p refused: another upgrade is in progress"],
  PING: ["ping: cannot resolve intranet.acme.test: Unknown host", "PING 10.20.0.1: 4 packets transmitted, 0 packets received, 100.0% packet loss"],
  PLUGIN_INSTALL: ["pkg: No packages available to install matching 'os-taskwire-agent'", "pkg: repository OPNsense has no meta file"],
  FIRMWARE_UPGRADE: ["opnsense-update: fetch failed: No address record", "Insufficient disk space for the upgrade set (need 900 MB)"],
};

function hex(r: ReturnType<typeof rng>, n: number) {
  return Array.from({ length: n }, () => "0123456789abcdef"[r.int(0, 15)]).join("");
}

type OrgPlan = {
  name: string;
  slug: string;
  ous: { name: string; prefix: string; count: number }[];
  extra: { name: string; status: DeviceStatus }[];
  history: number;
  /** A nightly backup schedule of one OU, with its runs over the history's last weeks. */
  nightlyBackup?: { ou: string; prefix: string };
};

const PLANS: OrgPlan[] = [
  {
    name: "Acme Corp",
    slug: "acme",
    ous: [
      { name: "emea-branches", prefix: "fw-ams", count: 70 },
      { name: "us-east", prefix: "fw-nyc", count: 65 },
      { name: "apac", prefix: "fw-sgp", count: 55 },
      { name: "datacenter", prefix: "fw-dc", count: 60 },
    ],
    extra: [
      { name: "fw-lab-01", status: "PENDING" },
      { name: "fw-lab-02", status: "PENDING" },
      { name: "fw-lab-03", status: "PENDING" },
      { name: "fw-old-lis-01", status: "DISABLED" },
      { name: "fw-old-lis-02", status: "DISABLED" },
    ],
    history: 3600,
    nightlyBackup: { ou: "datacenter", prefix: "fw-dc" },
  },
  {
    name: "Globex",
    slug: "globex",
    ous: [
      { name: "hq", prefix: "gx-hq", count: 15 },
      { name: "stores", prefix: "gx-store", count: 25 },
    ],
    extra: [{ name: "gx-spare-01", status: "DISABLED" }],
    history: 600,
  },
];

/** Seeds the demo: two organizations, their fleets, two users and a history of tasks. */
export async function seedDemo(ctx: Ctx, opts: { now?: Date } = {}) {
  const now = opts.now ?? new Date();
  const admin = (await findUserByEmail(ctx, DEMO_USERS.admin)) ?? (await createUser(ctx, { email: DEMO_USERS.admin, name: "Ada Admin", password: DEMO_PASSWORD }));
  const viewer = (await findUserByEmail(ctx, DEMO_USERS.viewer)) ?? (await createUser(ctx, { email: DEMO_USERS.viewer, name: "Victor Viewer", password: DEMO_PASSWORD }));
  const r = rng(20261124);
  const orgs: Record<string, string> = {};
  // The demo fleet's credentials: device tokens exist only here and in the agents' state.
  const agents: Record<string, DemoAgent[]> = {};

  for (const plan of PLANS) {
    const org = await createOrganization(ctx, { name: plan.name, slug: plan.slug, ownerId: admin.id, autoApprove: false });
    orgs[plan.slug] = org.id;
    if (plan.slug === "acme") {
      await withTransaction(ctx, async (tx) => {
        await tx.insert(member).values({ id: randomUUID(), organizationId: org.id, userId: viewer.id, role: "READ_ONLY", createdAt: now });
      });
    }
    const fleet: { id: string; name: string }[] = [];
    agents[plan.slug] = [];
    await withTransaction(ctx, async (tx) => {
      const pace = pacer();
      for (const ou of plan.ous) {
        for (let i = 1; i <= ou.count; i++) {
          await pace();
          const enrolled = new Date(now.getTime() - r.int(20, 400) * 86_400_000);
          const deviceToken = `dev_${randomCode(40)}`;
          const d = await createDevice(
            { db: tx },
            {
              organizationId: org.id,
              name: `${ou.prefix}-${String(i).padStart(2, "0")}`,
              status: "ENABLED",
              ous: [ou.name],
              agentVersion: r.pick(["1.8.2", "1.9.0", "1.9.1"]),
              tokenHash: sha256(deviceToken),
              at: enrolled,
            },
          );
          fleet.push({ id: d.id, name: d.name });
          agents[plan.slug].push({ name: d.name, device_id: d.id, device_token: deviceToken });
        }
      }
      for (const x of plan.extra) {
        await pace();
        await createDevice({ db: tx }, { organizationId: org.id, name: x.name, status: x.status, agentVersion: "1.9.1", at: now });
      }
      const nightly = plan.nightlyBackup ? await seedNightlySchedule(tx, { organizationId: org.id, userId: admin.id, now, ...plan.nightlyBackup }) : undefined;
      await seedHistory(tx, { organizationId: org.id, userId: admin.id, devices: fleet, count: plan.history, now, r, nightly }, pace);
    });
  }
  // The history went in as plain rows: count it the way issuing and the triggers would have.
  await withTransaction(ctx, async (tx) => {
    for (const stmt of recountStatements()) await runStatement(tx, sql.raw(stmt));
  });
  return { admin, viewer, orgs, agents };
}

/** Task rows per insert statement (and per turn of the event loop). */
const TASKS_PER_INSERT = 50;

export type DemoAgent = { name: string; device_id: string; device_token: string };

/**
 * Historical tasks, oldest first so ids follow creation: mostly finished, plus a few
 * still waiting or deferred, in fan-outs like the ones admins really issue.
 */
async function seedHistory(
  tx: Tx,
  p: { organizationId: string; userId: string; devices: { id: string; name: string }[]; count: number; now: Date; r: ReturnType<typeof rng>; nightly?: NightlyPlan },
  pace: () => Promise<void>,
) {
  const names = new Map(p.devices.map((d) => [d.id, d.name]));
  const deviceIds = p.devices.map((d) => d.id);
  const { r, now } = p;
  const spanMs = 30 * 86_400_000;
  const rows: (typeof tasks.$inferInsert)[] = [];
  // The audit trail of the same history: who issued each fan-out and cancelled each task.
  const trail: (typeof auditEvents.$inferInsert)[] = [];
  const byAdmin = { organizationId: p.organizationId, actor: `user:${p.userId}`, actorLabel: DEMO_USERS.admin, address: DEMO_ADDRESSES.admin };
  // About 6% of requests are wide fan-outs to half the fleet; pace requests so that the
  // history fills the whole span with roughly `count` tasks.
  const WIDE = 0.06;
  const perRequest = 1 - WIDE + WIDE * (deviceIds.length / 2);
  const step = spanMs / (p.count / perRequest) / 2;
  // The nightly backups due before `until`, in their place in time (ids follow creation).
  const nightlyUntil = async (until: number) => {
    while (p.nightly && p.nightly.due.length && p.nightly.due[0].getTime() <= until) {
      const dueAt = p.nightly.due.shift()!;
      const skipped = p.nightly.skip.has(dueAt.getTime());
      let fanoutId: number | null = null;
      if (!skipped) {
        const targets = deviceIds.filter((id) => names.get(id)!.startsWith(p.nightly!.prefix));
        const [f] = await tx
          .insert(fanouts)
          .values({ code: randomCode(), organizationId: p.organizationId, type: "BACKUP", target: { ous: [p.nightly.ou] }, total: targets.length, createdBy: p.userId, createdAt: dueAt })
          .returning();
        fanoutId = f.id;
        for (const deviceId of targets) {
          const failed = r.next() < 0.03;
          const startedAt = new Date(dueAt.getTime() + r.int(300, 4000));
          const finishedAt = new Date(startedAt.getTime() + r.int(4_000, 60_000));
          rows.push({
            code: randomCode(),
            organizationId: p.organizationId,
            deviceId,
            fanoutId,
            type: "BACKUP",
            status: failed ? "FAILED" : "COMPLETED",
            payload: null,
            message: failed ? r.pick(FAIL_MESSAGES.BACKUP) : OK_MESSAGES.BACKUP(r),
            createdBy: p.userId,
            createdAt: dueAt,
            updatedAt: finishedAt,
            scheduledAt: null,
            expiresAt: new Date(dueAt.getTime() + 86_400_000),
            startedAt,
            finishedAt,
          });
        }
      }
      p.nightly.runs.push({
        scheduleId: p.nightly.scheduleId,
        dueAt,
        ranAt: dueAt,
        outcome: skipped ? "skipped" : "issued",
        reason: skipped ? `Missed while the server was down (due ${dueAt.toISOString()}); this schedule does not catch up` : null,
        fanoutId,
      });
    }
  };
  let t = now.getTime() - spanMs;
  for (;;) {
    await pace();
    t += step * r.int(1, 3);
    // History stops an hour ago; the still-open tasks below are the newest.
    if (t > now.getTime() - 3_600_000) break;
    await nightlyUntil(t);
    const type = r.next() < 0.35 ? "SYNC" : r.pick(TASK_TYPES);
    const wide = r.next() < WIDE;
    const targets = wide ? deviceIds.filter(() => r.next() < 0.5) : [r.pick(deviceIds)];
    const createdAt = new Date(t);
    const [fanout] = await tx
      .insert(fanouts)
      .values({
        code: randomCode(),
        organizationId: p.organizationId,
        type,
        target: { devices: targets.map((id) => names.get(id)!) } satisfies FanoutTarget,
        total: targets.length,
        createdBy: p.userId,
        createdAt,
      })
      .returning();
    trail.push({
      ...byAdmin,
      at: createdAt,
      action: "task.issue",
      targetType: "fanout",
      targetId: fanout.code,
      targetLabel: `${type} to ${targets.length} device${targets.length === 1 ? "" : "s"}`,
      detail: { type, total: targets.length, target: { devices: targets.length <= 20 ? targets.map((id) => names.get(id)!) : `${targets.length} names` } },
    });
    for (const deviceId of targets) {
      const roll = r.next();
      const status: TaskStatus = roll < 0.8 ? "COMPLETED" : roll < 0.9 ? "FAILED" : roll < 0.95 ? "EXPIRED" : "CANCELLED";
      const startedAt = status === "COMPLETED" || status === "FAILED" ? new Date(t + r.int(200, 4000)) : null;
      const finishedAt = new Date(status === "EXPIRED" ? t + 86_400_000 : (startedAt?.getTime() ?? t) + r.int(800, 90_000));
      const message =
        status === "COMPLETED"
          ? OK_MESSAGES[type](r)
          : status === "FAILED"
            ? r.pick(FAIL_MESSAGES[type])
            : status === "EXPIRED"
              ? "Device did not pick the task up before it expired"
              : `Cancelled by ${DEMO_USERS.admin}`;
      const code = randomCode();
      if (status === "CANCELLED") {
        trail.push({ ...byAdmin, at: finishedAt > now ? now : finishedAt, action: "task.cancel", targetType: "task", targetId: code, targetLabel: type, detail: { from: "PENDING" } });
      }
      rows.push({
        code,
        organizationId: p.organizationId,
        deviceId,
        fanoutId: fanout.id,
        type,
        status,
        payload: type === "PING" ? { host: "1.1.1.1", count: 4 } : type === "FIRMWARE_UPGRADE" ? { mode: "minor" } : null,
        message,
        createdBy: p.userId,
        createdAt,
        updatedAt: finishedAt > now ? now : finishedAt,
        scheduledAt: null,
        expiresAt: new Date(t + 86_400_000),
        startedAt,
        finishedAt: finishedAt > now ? now : finishedAt,
      });
    }
  }
  await nightlyUntil(now.getTime() - 3_600_000);
  // A few still open: waiting on offline devices, and backups deferred to tonight.
  const open: (typeof tasks.$inferInsert)[] = [];
  for (let i = 0; i < 6; i++) {
    const createdAt = new Date(now.getTime() - r.int(5, 50) * 60_000);
    open.push({ code: randomCode(), organizationId: p.organizationId, deviceId: r.pick(deviceIds), type: "SYNC", status: "PENDING", payload: null, message: null, createdBy: p.userId, createdAt, updatedAt: createdAt, scheduledAt: null, expiresAt: new Date(createdAt.getTime() + 86_400_000) });
  }
  for (let i = 0; i < 4; i++) {
    const scheduledAt = new Date(now.getTime() + r.int(2, 10) * 3_600_000);
    open.push({ code: randomCode(), organizationId: p.organizationId, deviceId: r.pick(deviceIds), type: "BACKUP", status: "SCHEDULED", payload: null, message: null, createdBy: p.userId, createdAt: now, updatedAt: now, scheduledAt, expiresAt: new Date(scheduledAt.getTime() + 86_400_000) });
  }
  // Ids follow creation: the list is newest first by id.
  open.sort((a, b) => a.createdAt!.getTime() - b.createdAt!.getTime());
  for (const list of [rows, open]) {
    await breathe();
    await inChunks(list, TASKS_PER_INSERT, async (chunk) => {
      await tx.insert(tasks).values([...chunk]);
    });
  }
  if (p.nightly?.runs.length) await tx.insert(scheduleRuns).values(p.nightly.runs);
  if (p.nightly) {
    trail.push({ ...byAdmin, at: p.nightly.made, action: "schedule.create", targetType: "schedule", targetId: String(p.nightly.scheduleId), targetLabel: "Nightly backup", detail: { type: "BACKUP", cron: SCHEDULE_PRESETS.nightly.cron, timezone: "Europe/Berlin", enabled: true } });
  }
  trail.push(...peopleTrail(p, r));
  trail.sort((a, b) => a.at.getTime() - b.at.getTime());
  await inChunks(trail, TASKS_PER_INSERT, async (chunk) => {
    await tx.insert(auditEvents).values([...chunk]);
  });
}

type NightlyPlan = { scheduleId: number; made: Date; ou: string; prefix: string; due: Date[]; skip: Set<number>; runs: (typeof scheduleRuns.$inferInsert)[] };

/** The demo's nightly backup of one OU, made three weeks ago, with its due times since (one missed while the server was down). */
async function seedNightlySchedule(tx: Tx, p: { organizationId: string; userId: string; now: Date; ou: string; prefix: string }): Promise<NightlyPlan> {
  const cron = SCHEDULE_PRESETS.nightly.cron;
  const timezone = "Europe/Berlin";
  const made = new Date(p.now.getTime() - 22 * 86_400_000);
  const due = nextRuns(cron, timezone, made, 40).filter((d) => d.getTime() < p.now.getTime() - 3_600_000);
  const [s] = await tx
    .insert(schedules)
    .values({
      organizationId: p.organizationId,
      name: "Nightly backup",
      type: "BACKUP",
      spec: { targets: { ous: [p.ou] }, ttl_seconds: 6 * 3600 },
      cron,
      timezone,
      catchUp: false,
      enabled: true,
      ownerId: p.userId,
      createdAt: made,
      updatedAt: made,
      nextRunAt: nextRuns(cron, timezone, p.now, 1)[0],
      lastRunAt: due[due.length - 1] ?? null,
    })
    .returning();
  return { scheduleId: s.id, made, ou: p.ou, prefix: p.prefix, due, skip: new Set(due.length > 9 ? [due[due.length - 9].getTime()] : []), runs: [] };
}

/** Where the demo's people sign in from (documentation addresses, RFC 5737). */
const DEMO_ADDRESSES = { admin: "198.51.100.23", stranger: "203.0.113.99" } as const;

/** The people's side of the demo's last 30 days: sign-ins, a failed one, devices approved, a token, a rotation. */
function peopleTrail(p: { organizationId: string; userId: string; devices: { id: string; name: string }[]; now: Date }, r: ReturnType<typeof rng>): (typeof auditEvents.$inferInsert)[] {
  const { organizationId, now } = p;
  const admin = { organizationId, actor: `user:${p.userId}`, actorLabel: DEMO_USERS.admin, address: DEMO_ADDRESSES.admin };
  const ago = (days: number, hour: number) => new Date(now.getTime() - days * 86_400_000 + (hour - 12) * 3_600_000);
  const out: (typeof auditEvents.$inferInsert)[] = [];
  for (let day = 30; day >= 1; day -= r.int(1, 3)) {
    out.push({ ...admin, at: ago(day, 9), action: "auth.sign_in", targetType: "user", targetId: p.userId, targetLabel: DEMO_USERS.admin });
  }
  out.push({ organizationId, actor: null, actorLabel: DEMO_USERS.admin, address: DEMO_ADDRESSES.stranger, at: ago(12, 3), action: "auth.sign_in_failed", targetType: "user", targetId: p.userId, targetLabel: DEMO_USERS.admin });
  out.push({ ...admin, at: ago(21, 10), action: "org.registration_token", targetType: "organization", targetId: organizationId });
  out.push({ ...admin, at: ago(14, 15), action: "token.create", targetType: "token", targetId: randomUUID(), targetLabel: "ci-pipeline", detail: { role: "READ_WRITE", prefix: "tw_demo0" } });
  for (const d of p.devices.slice(0, 4)) {
    out.push({ ...admin, at: ago(r.int(3, 28), 11), action: "device.approve", targetType: "device", targetId: d.id, targetLabel: d.name, detail: { from: "PENDING", to: "ENABLED" } });
  }
  out.push({ ...admin, at: ago(2, 16), action: "org.auto_approve", targetType: "organization", targetId: organizationId, detail: { from: true, to: false } });
  return out;
}

export async function isSeeded(ctx: Ctx): Promise<boolean> {
  return !!(await findUserByEmail(ctx, DEMO_USERS.admin));
}

