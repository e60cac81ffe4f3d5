// Builds the benchmark's databases directly with better-sqlite3 prepared statements, before
// any server starts: one organization of N ENABLED devices (each with a known agent token,
// so no agent needs to enroll), the demo users, an API token, and a history of tasks; at
// full size, a second organization of 100,000 ENABLED devices for the widest fan-out.
import Database from "better-sqlite3";
import { randomBytes, randomUUID } from "node:crypto";
import { copyFileSync } from "node:fs";
import { clearDb, closeDatabase, openSqliteFile, setDb, writerConnection } from "../../db/client";
import { dialectOf } from "../../db/dialect";
import { withTransaction } from "../../db/transaction";
import { DEMO_PASSWORD, DEMO_USERS, rng } from "../../lib/demo/seed";
import { ALPHABET } from "../../rules/codes";
import { member } from "../../db/schema";
import { recountStatements } from "../../rules/sql";
import { createUser } from "../../lib/auth/users";
import { sha256 } from "../../lib/crypto";
import { createApiToken, createOrganization } from "../../lib/orgs/orgs";
import { TASK_TYPES, type TaskStatus, type TaskType } from "../../rules/tasks";
import { withConn, type Target } from "./db";

const AUTH_KEY = Symbol.for("taskwire.auth");

export type DeviceCreds = { device_id: string; device_token: string; name: string };

/** An organization of many ENABLED devices and nothing else: the target of the widest fan-out. */
export type WideOrg = { organizationId: string; apiToken: string; devices: number };

export type BaseData = {
  organizationId: string;
  adminId: string;
  apiToken: string;
  devices: DeviceCreds[];
  /** The OU holding the devices whose agents the dispatch and throughput scenarios run. */
  agentsOu: string;
  /** Present when asked for (`wideDevices`). */
  wide?: WideOrg;
  /** The devices of the many-agents scenario's organization (`manyDevices`), with their tokens. */
  many: DeviceCreds[];
};

export const deviceName = (i: number) => `fw-${String(i).padStart(5, "0")}`;

/**
 * The organization, users, token and devices, in a fresh migrated file. The auth secret
 * must be the one the server will run with (better-auth hashes passwords with it). With
 * `wideDevices`, also an organization of that many ENABLED devices (same admin, a token of
 * its own); no agent runs for them.
 */
export async function buildBase(file: string, opts: { secret: string; devices: number; agents: number; wideDevices?: number; manyDevices?: number }): Promise<BaseData> {
  process.env.BETTER_AUTH_SECRET = opts.secret;
  process.env.DATABASE_URL = file;
  // better-auth warns without a base URL. Nothing is served here (users are only written), and
  // the servers, started later from this environment, take the URL they listen on.
  const urlGiven = process.env.BETTER_AUTH_URL !== undefined;
  if (!urlGiven) process.env.BETTER_AUTH_URL = "http://localhost";
  delete (globalThis as Record<symbol, unknown>)[AUTH_KEY];
  const db = openSqliteFile(file);
  setDb(db);
  try {
    const admin = await createUser({ db }, { email: DEMO_USERS.admin, name: "Ada Admin", password: DEMO_PASSWORD });
    const viewer = await createUser({ db }, { email: DEMO_USERS.viewer, name: "Victor Viewer", password: DEMO_PASSWORD });
    const org = await createOrganization({ db }, { name: "Bench Corp", slug: "bench", ownerId: admin.id });
    await withTransaction({ db }, async (tx) => {
      await tx.insert(member).values({ id: randomUUID(), organizationId: org.id, userId: viewer.id, role: "READ_ONLY", createdAt: new Date() });
    });
    const tokenFor = async (organizationId: string) =>
      (await createApiToken({ db, actor: { organizationId, userId: admin.id, role: "ADMIN", label: admin.email } }, { name: "bench", role: "READ_WRITE" })).secret;
    const apiToken = await tokenFor(org.id);
    const wideOrg = opts.wideDevices ? await createOrganization({ db }, { name: "Bench Wide", slug: "bench-wide", ownerId: admin.id }) : undefined;
    const manyOrg = opts.manyDevices ? await createOrganization({ db }, { name: "Bench Many", slug: "bench-many", ownerId: admin.id }) : undefined;
    const wideToken = wideOrg ? await tokenFor(wideOrg.id) : undefined;

    // Nothing else writes while the file is built: the rows go straight to the writer connection.
    const sqlite = writerConnection(db);
    const insertDevice = sqlite.prepare(
      `insert into devices (id, organization_id, name, status, agent_version, token_hash, enrolled_at, online, last_seq)
       values (?, ?, ?, 'ENABLED', '1.9.1', ?, ?, 0, 0)`,
    );
    const ouIds = new Map<string, number>();
    const ou = (name: string) => {
      if (!ouIds.has(name)) ouIds.set(name, Number(sqlite.prepare("insert into ous (organization_id, name) values (?, ?)").run(org.id, name).lastInsertRowid));
      return ouIds.get(name)!;
    };
    const insertMembership = sqlite.prepare("insert into device_ous (device_id, ou_id) values (?, ?)");
    const devices: DeviceCreds[] = [];
    const enrolled = Date.now() - 90 * 86_400_000;
    const regions = ["emea", "us-east", "us-west", "apac", "datacenter"];
    sqlite.transaction(() => {
      for (let i = 1; i <= opts.devices; i++) {
        const device_id = randomUUID();
        const device_token = `dev_${randomBytes(30).toString("base64url")}`;
        const name = deviceName(i);
        insertDevice.run(device_id, org.id, name, sha256(device_token), enrolled);
        insertMembership.run(device_id, ou(regions[i % regions.length]));
        if (i <= opts.agents) insertMembership.run(device_id, ou("agents"));
        devices.push({ device_id, device_token, name });
      }
    })();
    if (wideOrg) {
      // Their tokens are never used: each device gets a distinct hash of random bytes.
      sqlite.transaction(() => {
        for (let i = 1; i <= opts.wideDevices!; i++) insertDevice.run(randomUUID(), wideOrg.id, deviceName(i), sha256(randomBytes(30).toString("base64url")), enrolled);
      })();
    }
    // Devices whose agents connect in the many-agents scenario: each with a token of its own.
    const many: DeviceCreds[] = [];
    if (manyOrg) {
      sqlite.transaction(() => {
        for (let i = 1; i <= opts.manyDevices!; i++) {
          const device_id = randomUUID();
          const device_token = `dev_${randomBytes(30).toString("base64url")}`;
          insertDevice.run(device_id, manyOrg.id, deviceName(i), sha256(device_token), enrolled);
          many.push({ device_id, device_token, name: deviceName(i) });
        }
      })();
    }
    sqlite.pragma("wal_checkpoint(TRUNCATE)");
    const wide = wideOrg ? { organizationId: wideOrg.id, apiToken: wideToken!, devices: opts.wideDevices! } : undefined;
    return { organizationId: org.id, adminId: admin.id, apiToken, devices, agentsOu: "agents", wide, many };
  } finally {
    await closeDatabase(db);
    clearDb();
    delete (globalThis as Record<symbol, unknown>)[AUTH_KEY];
    if (!urlGiven) delete process.env.BETTER_AUTH_URL;
  }
}

/** A copy of the base file (closed and checkpointed) to grow a history in. */
export function copyBase(from: string, to: string): void {
  copyFileSync(from, to);
}


const CODE_SPACE = 62 ** 8;
/** Unique, random-looking 8-character codes: i × an odd prime not dividing 62, mod 62⁸, is a bijection. */
function code(i: number, offset: number): string {
  let n = (i * 2_654_435_761 + offset) % CODE_SPACE;
  let out = "";
  for (let k = 0; k < 8; k++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

const MESSAGES: Record<"COMPLETED" | "FAILED" | "EXPIRED" | "CANCELLED", string[]> = {
  COMPLETED: ["Configuration applied (revision 4711); 0 changes pending", "Backup stored as config-20261101-3fa9c1.xml.gz (48 KiB)", "PING 1.1.1.1: 4 packets transmitted, 4 packets received, 0.0% packet loss", "Agent restart scheduled via rc.d"],
  FAILED: ["configd: template generation failed for OPNsense/IPsec: unknown attribute 'reqid'", "Upload to storage failed: 507 Insufficient Storage", "pkg: No packages available to install matching 'os-taskwire-agent'"],
  EXPIRED: ["Device did not pick the task up before it expired"],
  CANCELLED: [`Cancelled by ${DEMO_USERS.admin}`],
};

/** A failure as agents word them, with the parts that vary from device to device (a dozen groups, thousands of distinct messages). */
function cockpitFailure(r: ReturnType<typeof rng>): string {
  const ip = () => `10.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;
  const templates = [
    () => `Alias[${r.int(1, 40)}] 'net_${r.int(1, 99)}' references unknown host ${ip()}`,
    () => `Connection to update server timed out after ${r.int(29_000, 31_000)} ms`,
    () => `pfctl: /tmp/rules.debug:${r.int(1, 900)}: syntax error`,
    () => `Gateway WAN_DHCP ${ip()}:${r.int(1024, 65535)} is down`,
    () => "configd: template generation failed for OPNsense/IPsec: unknown attribute 'reqid'",
    () => `Disk usage ${r.int(90, 99)}.${r.int(0, 9)}% above 90%`,
    () => `Backup ${r.int(100_000, 999_999).toString(16)}${r.int(100_000, 999_999).toString(16)} failed checksum`,
    () => "Upload to storage failed: 507 Insufficient Storage",
    () => `Plugin os-haproxy ${r.int(3, 4)}.${r.int(0, 9)} is not available for ${r.int(23, 25)}.${r.pick(["1", "7"])}`,
    () => `Interface igb${r.int(0, 7)} has no carrier`,
    () => `Lease conflict for ${ip()} on vlan ${r.int(10, 4000)}`,
    () => "Agent is busy with another task",
  ];
  return templates[Math.floor(r.next() ** 2 * templates.length)]();
}

/**
 * Appends `count` tasks of history (oldest first, so ids follow creation) over the last 30
 * days up to an hour ago: mostly single-device requests by count of requests, mostly wide fan-outs by count of
 * tasks — 75% of requests name one device, 20% an OU of 10–200, 5% 20–100% of the fleet.
 * Statuses: 80% COMPLETED, 10% FAILED, 5% EXPIRED, 5% CANCELLED; a few still open at the end
 * (on devices outside the agents' OU, so no agent is sent them).
 */
export function addHistory(file: string, base: BaseData, count: number, opts: { seed?: number; agents: number; cockpit?: number }): void {
  const sqlite = new Database(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = OFF");
  sqlite.pragma("cache_size = -262144");
  const r = rng(opts.seed ?? 20261124);
  const ids = base.devices.map((d) => d.device_id);
  const insertFanout = sqlite.prepare(
    "insert into fanouts (code, organization_id, type, target, total, created_by, created_at) values (?, ?, ?, ?, ?, ?, ?)",
  );
  const insertTask = sqlite.prepare(
    `insert into tasks (code, organization_id, device_id, fanout_id, type, status, payload, message, created_by, created_at, updated_at, scheduled_at, expires_at, started_at, finished_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const now = Date.now();
  const span = 30 * 86_400_000;
  // History stops an hour ago (as in the demo seed): the steady state of a console, where no
  // fan-out is running and the "active fan-outs" bars have nothing recent to show.
  const end = now - 3_600_000;
  const perRequest = 0.75 + 0.2 * 105 + 0.05 * 0.6 * ids.length;
  const step = span / Math.max(1, count / perRequest);
  const fanoutBase = (sqlite.prepare("select count(*) as n from fanouts").get() as { n: number }).n;
  const taskBase = (sqlite.prepare("select count(*) as n from tasks").get() as { n: number }).n;
  let made = 0;
  let fanoutNo = fanoutBase;
  let t = end - span;
  const payloadOf = (type: TaskType) => (type === "PING" ? '{"host":"1.1.1.1","count":4}' : type === "FIRMWARE_UPGRADE" ? '{"mode":"minor"}' : null);

  // The cockpit's fan-out first (oldest ids, a month ago), so the list's first pages and its
  // "newest wide fan-out" stay the history's: one fan-out of `cockpit` tasks over the fleet.
  if (opts.cockpit) {
    sqlite.transaction(() => {
      const at = end - span;
      const fanoutId = Number(insertFanout.run(code(++fanoutNo, 5_555_555), base.organizationId, "SYNC", '{"all":true}', opts.cockpit, base.adminId, at).lastInsertRowid);
      for (let k = 0; k < opts.cockpit!; k++) {
        const x = r.next();
        const status: TaskStatus = x < 0.85 ? "COMPLETED" : x < 0.93 ? "FAILED" : x < 0.95 ? "EXPIRED" : "PENDING";
        const started = status === "COMPLETED" || status === "FAILED" ? at + r.int(200, 4000) : null;
        const finished = status === "PENDING" ? null : status === "EXPIRED" ? at + 86_400_000 : started! + r.int(800, 90_000);
        insertTask.run(code(k + 1, 9_876_543), base.organizationId, ids[k % ids.length], fanoutId, "SYNC", status, null, status === "FAILED" ? cockpitFailure(r) : status === "PENDING" ? null : r.pick(MESSAGES[status as keyof typeof MESSAGES]), base.adminId, at, finished ?? at, null, status === "PENDING" ? now + 86_400_000 : at + 86_400_000, started, finished);
      }
    })();
  }

  const batch = sqlite.transaction((until: number) => {
    while (made < until) {
      t += step * (0.5 + r.next());
      const type: TaskType = r.next() < 0.35 ? "SYNC" : r.pick(TASK_TYPES);
      const roll = r.next();
      const size = roll < 0.75 ? 1 : roll < 0.95 ? r.int(10, 200) : Math.floor(ids.length * (0.2 + 0.8 * r.next()));
      const n = Math.min(size, count - made, ids.length);
      const start = r.int(0, ids.length - 1);
      const kind = n === 1 ? "devices" : n < 1000 ? "ous" : "all";
      const fanoutId = Number(
        insertFanout.run(code(++fanoutNo, 7_777_777), base.organizationId, type, JSON.stringify(kind === "all" ? { all: true } : { [kind]: ["(bench)"] }), n, base.adminId, Math.round(t))
          .lastInsertRowid,
      );
      for (let k = 0; k < n; k++) {
        const status: TaskStatus = ((x) => (x < 0.8 ? "COMPLETED" : x < 0.9 ? "FAILED" : x < 0.95 ? "EXPIRED" : "CANCELLED"))(r.next());
        const created = Math.round(t);
        const started = status === "COMPLETED" || status === "FAILED" ? created + r.int(200, 4000) : null;
        const finished = status === "EXPIRED" ? created + 86_400_000 : (started ?? created) + r.int(800, 90_000);
        const fin = Math.min(finished, end);
        insertTask.run(
          code(taskBase + made + 1, 1_234_567),
          base.organizationId,
          ids[(start + k) % ids.length],
          fanoutId,
          type,
          status,
          payloadOf(type),
          r.pick(MESSAGES[status as keyof typeof MESSAGES]),
          base.adminId,
          created,
          fin,
          null,
          created + 86_400_000,
          started,
          fin,
        );
        made++;
      }
    }
  });
  // Transactions of ~50,000 rows: large enough to be fast, small enough to keep the WAL in check.
  while (made < count) batch(Math.min(count, made + 50_000));

  // A few still open, on devices no benchmark agent runs: waiting, and deferred to tonight.
  const spare = ids.slice(opts.agents);
  if (spare.length) {
    sqlite.transaction(() => {
      for (let i = 0; i < 10; i++) {
        const at = now - r.int(5, 50) * 60_000;
        const deferred = i >= 6;
        const fanoutId = Number(insertFanout.run(code(++fanoutNo, 7_777_777), base.organizationId, "SYNC", '{"devices":["(bench)"]}', 1, base.adminId, at).lastInsertRowid);
        const scheduled = deferred ? now + r.int(2, 10) * 3_600_000 : null;
        insertTask.run(code(taskBase + made + 1 + i, 1_234_567), base.organizationId, r.pick(spare), fanoutId, "SYNC", deferred ? "SCHEDULED" : "PENDING", null, null, base.adminId, at, at, scheduled, (scheduled ?? at) + 86_400_000, null, null);
      }
    })();
  }
  // Plain rows, as the demo seed writes them: count them as issuing and the triggers would.
  sqlite.transaction(() => {
    for (const stmt of recountStatements()) sqlite.exec(stmt);
  })();
  sqlite.pragma("wal_checkpoint(TRUNCATE)");
  sqlite.close();
}

/** Rows and size of a database (a SQLite file or a PostgreSQL database), for the report. */
export function describe(target: Target) {
  const bytes = dialectOf(target) === "pg" ? "select pg_database_size(current_database()) as n" : "select page_count * page_size as n from pragma_page_count(), pragma_page_size()";
  return withConn(
    target,
    async (c) => {
      const n = async (sql: string) => (await c.rows<{ n: number }>(sql))[0].n;
      return { tasks: await n("select count(*) as n from tasks"), fanouts: await n("select count(*) as n from fanouts"), devices: await n("select count(*) as n from devices"), bytes: await n(bytes) };
    },
    { readonly: true },
  );
}
