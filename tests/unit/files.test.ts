// Files at rest: secrets written all or nothing and checked when read back, the database
// and its folder private from creation, a damaged database refused at open, the leases a
// downtime ate into given back. Each test works in a folder of its own.
import Database from "better-sqlite3";
import { eq } from "drizzle-orm";
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { closeDatabase, openDatabase, openSqliteFile } from "../../db/client";
import { nodes, tasks } from "../../db/schema";
import { withTransaction } from "../../db/transaction";
import { loadOrCreateServerKey } from "../../lib/agents/envelope";
import { backupDatabase, BackupError } from "../../lib/server/backup";
import { BadFileError, writeFileAtomic } from "../../lib/server/files";
import { DamagedDatabaseError } from "../../db/integrity";
import { startLiveness } from "../../lib/server/liveness";
import { ensureSecret } from "../../lib/server/secret";
import { extendLeasesAfterDowntime } from "../../lib/tasks/due";
import { issueFanout } from "../../lib/tasks/issue";
import { newTestDatabase, onPg } from "../support/databases";
import { makeDevices, makeOrg } from "../support/factories";
import { rawRun } from "../support/raw";
import { taskByCode, walk } from "./helpers";

const dirs: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "taskwire-files-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o777;
const leftovers = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".tmp"));

describe("writeFileAtomic", () => {
  test("writes the whole file, private, in a private folder it creates, and leaves no temporary file", () => {
    const dir = join(scratch(), "a", "b");
    const file = join(dir, "secret");
    expect(writeFileAtomic(file, "x".repeat(100_000))).toBe(true);
    expect(readFileSync(file, "utf8")).toBe("x".repeat(100_000));
    expect(mode(file)).toBe(0o600);
    expect(mode(dir)).toBe(0o700);
    expect(leftovers(dir)).toEqual([]);
  });

  test("replaces an existing file in one step; `exclusive` keeps the one that is there", () => {
    const file = join(scratch(), "f");
    writeFileAtomic(file, "first");
    expect(writeFileAtomic(file, "second")).toBe(true);
    expect(readFileSync(file, "utf8")).toBe("second");
    expect(writeFileAtomic(file, "third", { exclusive: true })).toBe(false);
    expect(readFileSync(file, "utf8")).toBe("second");
    expect(leftovers(join(file, ".."))).toEqual([]);
  });

  test("a write that fails leaves neither the file nor a temporary one", () => {
    const dir = scratch();
    const file = join(dir, "f");
    // A folder where the file should go: the final rename cannot replace it.
    mkdirSync(file);
    expect(() => writeFileAtomic(file, "data")).toThrow();
    expect(statSync(file).isDirectory()).toBe(true);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe("the auth secret file", () => {
  test("is generated once (0600, at least 32 characters) and read back the same", () => {
    const dir = scratch();
    const db = join(dir, "data", "taskwire.db");
    const secret = ensureSecret(db);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(mode(join(dir, "data", "auth-secret"))).toBe(0o600);
    expect(mode(join(dir, "data"))).toBe(0o700);
    expect(ensureSecret(db)).toBe(secret);
    expect(ensureSecret(db, "given-by-the-operator-and-long-enough")).toBe("given-by-the-operator-and-long-enough");
  });

  test.each([
    ["empty (a first start on a full disk)", ""],
    ["a few characters", "abc\n"],
    ["whitespace", "   \n\n"],
  ])("%s stops start-up, naming the file and the fix", (_label, content) => {
    const dir = scratch();
    writeFileSync(join(dir, "auth-secret"), content);
    const err = (() => {
      try {
        ensureSecret(join(dir, "taskwire.db"));
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(BadFileError);
    expect(err!.message).toContain(join(dir, "auth-secret"));
    expect(err!.message).toMatch(/Delete it/);
    expect(err!.message).toMatch(/sign in again/);
    // Left for the operator to look at, not silently replaced.
    expect(readFileSync(join(dir, "auth-secret"), "utf8")).toBe(content);
  });
});

describe("the server key file", () => {
  test("is generated once (0600) and read back as the same Ed25519 key", () => {
    const file = join(scratch(), "keys", "server-key.pem");
    const first = loadOrCreateServerKey(file);
    expect(first.privateKey.asymmetricKeyType).toBe("ed25519");
    expect(mode(file)).toBe(0o600);
    expect(loadOrCreateServerKey(file).publicKeyPem).toBe(first.publicKeyPem);
  });

  test.each([
    ["empty", () => ""],
    ["truncated", () => generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString().slice(0, 40)],
    ["another kind of key", () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString()],
  ])("%s stops start-up naming the file, not with a bare decoder error", (_label, content) => {
    const file = join(scratch(), "server-key.pem");
    writeFileSync(file, content());
    let err: Error | undefined;
    try {
      loadOrCreateServerKey(file);
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(BadFileError);
    expect(err!.message).toContain(file);
    expect(err!.message).toMatch(/Delete it/);
    expect(err!.message).toMatch(/pin the new key/);
    expect(err!.message).not.toMatch(/DECODER|error:/);
  });
});

// A SQLite file and the files beside it: PostgreSQL keeps its own (docs/deploy.md).
describe.skipIf(onPg)("the database file", () => {
  test("a new database, its folder, -wal and -shm are private (0600 / 0700)", async () => {
    const dir = join(scratch(), "fresh", "data");
    const file = join(dir, "taskwire.db");
    const db = openSqliteFile(file);
    try {
      // A write, so the log and the shared-memory index certainly exist.
      await makeOrg(db);
      expect(mode(dir)).toBe(0o700);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) {
        expect(existsSync(f), f).toBe(true);
        expect(mode(f), f).toBe(0o600);
      }
    } finally {
      await closeDatabase(db);
    }
  });

  test("an existing database keeps the mode its operator gave it", async () => {
    const file = join(scratch(), "taskwire.db");
    await closeDatabase(openSqliteFile(file));
    chmodSync(file, 0o640);
    await closeDatabase(openSqliteFile(file));
    expect(mode(file)).toBe(0o640);
  });

  test("a damaged task page stops the open with the file's path and what to do; a sound file opens", async () => {
    const dir = scratch();
    const file = join(dir, "taskwire.db");
    const db = openSqliteFile(file);
    const { org, actor } = await makeOrg(db);
    await makeDevices(db, org.id, 400, { prefix: "fw" });
    await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } });
    await closeDatabase(db);
    await closeDatabase(openSqliteFile(file, { check: true }));

    const copy = join(dir, "copy.db");
    writeFileSync(copy, readFileSync(file));
    const { page, size } = (() => {
      const raw = new Database(copy, { readonly: true });
      try {
        const leaf = raw.prepare("select pageno from dbstat where name = 'tasks' and pagetype = 'leaf' order by pageno limit 1 offset 2").get() as { pageno: number };
        return { page: leaf.pageno, size: raw.pragma("page_size", { simple: true }) as number };
      } finally {
        raw.close();
      }
    })();
    // Garbage over the page's cell pointers and cells, as a torn write or a bad sector would leave.
    const fd = openSync(copy, "r+");
    writeSync(fd, Buffer.alloc(size - 200, 0xa5), 0, size - 200, (page - 1) * size + 100);
    closeSync(fd);

    let err: Error | undefined;
    try {
      await closeDatabase(openSqliteFile(copy, { check: true }));
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(DamagedDatabaseError);
    expect(err!.message).toContain(copy);
    expect(err!.message).toMatch(/restore the latest backup/);
    // Without the check the same file opens: the damage would surface at run time.
    await closeDatabase(openSqliteFile(copy));
  });
});

describe.skipIf(onPg)("backupDatabase", () => {
  test("copies into one private, checked file (no -wal needed) with every task; refuses to overwrite without force", async () => {
    const dir = scratch();
    const file = join(dir, "taskwire.db");
    const db = openSqliteFile(file);
    const { org, actor } = await makeOrg(db);
    await makeDevices(db, org.id, 50, { prefix: "fw" });
    await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } });
    const dest = join(dir, "backups", "nightly.db");
    // The source stays open and written to, as under a running server.
    const r = await backupDatabase(file, dest);
    await issueFanout({ db, actor }, { type: "PULL", targets: { all: true } });
    expect(r).toMatchObject({ file: dest, tasks: 50 });
    expect(mode(dest)).toBe(0o600);
    expect(existsSync(`${dest}-wal`)).toBe(false);
    const copy = new Database(dest, { readonly: true });
    try {
      expect(copy.pragma("quick_check", { simple: true })).toBe("ok");
      expect(copy.pragma("journal_mode", { simple: true })).toBe("delete");
      expect((copy.prepare("select count(*) as n from tasks").get() as { n: number }).n).toBe(50);
    } finally {
      copy.close();
    }
    await expect(backupDatabase(file, dest)).rejects.toThrow(BackupError);
    expect((await backupDatabase(file, dest, { force: true })).tasks).toBe(100);
    await expect(backupDatabase(join(dir, "missing.db"), join(dir, "x.db"))).rejects.toThrow(/no database/);
    // A PostgreSQL URL is refused by name, its password hidden, and nothing is written.
    const refused = await backupDatabase("postgres://taskwire:hunter2@db.example:5432/taskwire", join(dir, "pg.db")).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(BackupError);
    expect((refused as Error).message).toMatch(/PostgreSQL database; .*pg_dump/);
    expect((refused as Error).message).toContain("postgres://taskwire:***@db.example:5432/taskwire");
    expect((refused as Error).message).not.toContain("hunter2");
    expect(existsSync(join(dir, "pg.db"))).toBe(false);
    const inQuery = await backupDatabase("postgresql://taskwire@db.example/taskwire?sslmode=require&password=hunter2", join(dir, "pg.db")).catch((e: Error) => e);
    expect((inQuery as Error).message).toContain("password=***");
    expect((inQuery as Error).message).not.toContain("hunter2");
    expect(leftovers(join(dir, "backups"))).toEqual([]);
    await closeDatabase(db);
  });
});

describe("leases across a restart", () => {
  test("running leases are lengthened by the downtime, those near their end held for the grace, those already over left to fail", async () => {
    const target = await newTestDatabase();
    const db = await openDatabase(target.url);
    try {
      const { org, actor } = await makeOrg(db);
      const [d] = await makeDevices(db, org.id, 1, { prefix: "fw" });
      const running = async () => {
        const issued = await issueFanout({ db, actor }, { type: "SYNC", targets: { devices: [d.name] } });
        return walk(db, (await taskByCode(db, issued.tasks[0].code)), ["IN_PROGRESS"]);
      };
      const t0 = Date.now();
      const lastSeen = new Date(t0 - 130_000); // down for 130 s
      const now = new Date(t0);
      const graceUntil = new Date(t0 + 60_000);
      const set = (code: string, at: number) =>
        withTransaction({ db }, async (tx) => {
          await tx.update(tasks).set({ leaseExpiresAt: new Date(at) }).where(eq(tasks.code, code));
        });
      const long = await running(); // 100 s left when the server went down
      await set(long.code, lastSeen.getTime() + 100_000);
      const short = await running(); // 10 s left
      await set(short.code, lastSeen.getTime() + 10_000);
      const over = await running(); // ran out while the server was still up
      await set(over.code, lastSeen.getTime() - 5_000);

      expect(await withTransaction({ db }, (tx) => extendLeasesAfterDowntime(tx, { lastSeen, now, graceUntil }))).toEqual({ extended: 2, graced: 1 });
      expect((await taskByCode(db, long.code)).leaseExpiresAt!.getTime()).toBe(t0 + 100_000);
      expect((await taskByCode(db, short.code)).leaseExpiresAt!.getTime()).toBe(graceUntil.getTime());
      expect((await taskByCode(db, over.code)).leaseExpiresAt!.getTime()).toBe(lastSeen.getTime() - 5_000);
      expect((await taskByCode(db, long.code)).status).toBe("IN_PROGRESS");
    } finally {
      await closeDatabase(db);
      await target.drop();
    }
  });

  test("startLiveness reads how long the previous run was down from `nodes` and keeps one row of its own", async () => {
    const target = await newTestDatabase();
    const db = await openDatabase(target.url);
    try {
      const first = await startLiveness({ db }, { sole: true, beatMs: 60_000 });
      expect(first.lastSeen).toBeNull();
      await first.stop();
      const seen = (await db.select().from(nodes))[0].seenAt.getTime();
      await rawRun(db, "update nodes set seen_at = ?", seen - 120_000);
      const second = await startLiveness({ db }, { sole: true, beatMs: 60_000 });
      expect(second.lastSeen!.getTime()).toBe(seen - 120_000);
      await second.stop();
      expect(await db.select({ id: nodes.id }).from(nodes)).toEqual([{ id: second.nodeId }]);
    } finally {
      await closeDatabase(db);
      await target.drop();
    }
  });
});
