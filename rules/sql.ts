import { FANOUT_COUNTED } from "./fanouts";
import { FINAL_STATUSES, OPEN_STATUSES, TASK_STATUSES, TRANSITIONS } from "./tasks";

/** The fan-out row's counted final statuses (rules/fanouts.ts) as [status, column]. */
const COUNTED = Object.entries(FANOUT_COUNTED);

// The rules as the database enforces them: the lists of the CHECK constraints (db/schema)
// and the triggers db/client.ts re-creates at every start. Plain strings, so this folder
// needs no database to be imported.

/** Renders a tuple as the body of a SQL `IN (...)` list. Only ever fed the rules' own constants. */
export function sqlList(values: readonly string[]): string {
  return values.map((v) => `'${v.replace(/'/g, "''")}'`).join(", ");
}

/**
 * `expr` equals one of `values`, as a chain of comparisons. Triggers use this rather than
 * `expr IN (...)`: SQLite builds such a list into a temporary index on every run of a
 * trigger, which cost ~30 µs per list on every task status change, more than the UPDATE
 * itself (measured on a million-task file: an accepted task 97 µs before, 37 µs after).
 */
export function sqlAnyOf(expr: string, values: readonly string[]): string {
  return `(${values.map((v) => `${expr} = '${v.replace(/'/g, "''")}'`).join(" OR ")})`;
}

/**
 * The database's own guard of the task state machine, generated from the one transition
 * table so the two can never disagree; and the bookkeeping of the task counts and of each
 * fan-out's open tasks on every status change and delete, whoever makes it.
 * Re-created on every start (after migrations), so a change to the rules reaches existing
 * databases without a hand-written migration.
 */
export function taskTriggerStatements(): string[] {
  const legal = TASK_STATUSES.filter((from) => TRANSITIONS[from].length > 0)
    .map((from) => `(OLD.status = '${from}' AND ${sqlAnyOf("NEW.status", TRANSITIONS[from])})`)
    .join(" OR ");
  const wasOpen = sqlAnyOf("OLD.status", OPEN_STATUSES);
  // Bookkeeping of task_counts and of each fan-out's open tasks (db/schema/tasks.ts). Issuing
  // adds its tasks itself, in one statement per fan-out (lib/tasks/issue.ts): a trigger on
  // INSERT would double what a 10,000-task fan-out costs. Status changes and deletes, which
  // come from many places, are kept here.
  const uncount = `UPDATE task_counts SET n = n - 1 WHERE organization_id = OLD.organization_id AND type = OLD.type AND status = OLD.status;`;
  const count = `INSERT INTO task_counts (organization_id, type, status, n) VALUES (NEW.organization_id, NEW.type, NEW.status, 1)
     ON CONFLICT (organization_id, type, status) DO UPDATE SET n = n + 1;`;
  return [
    `DROP TRIGGER IF EXISTS tasks_count_status`,
    `DROP TRIGGER IF EXISTS tasks_count_delete`,
    `DROP TRIGGER IF EXISTS tasks_fanout_status`,
    `DROP TRIGGER IF EXISTS tasks_fanout_delete`,
    `CREATE TRIGGER tasks_count_status AFTER UPDATE OF status ON tasks WHEN NEW.status <> OLD.status
     BEGIN ${uncount} ${count} END`,
    `CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks BEGIN ${uncount} END`,
    // Open → final (the only way out of open): one fewer open task; the last one finishes the fan-out.
    `CREATE TRIGGER tasks_fanout_status AFTER UPDATE OF status ON tasks
     WHEN NEW.fanout_id IS NOT NULL AND ${wasOpen} AND NOT ${sqlAnyOf("NEW.status", OPEN_STATUSES)}
     BEGIN UPDATE fanouts SET open_tasks = open_tasks - 1, ${COUNTED.map(([st, col]) => `${col} = ${col} + (NEW.status = '${st}')`).join(", ")}, finished_at = CASE WHEN open_tasks = 1 THEN NEW.finished_at ELSE finished_at END WHERE id = NEW.fanout_id; END`,
    `CREATE TRIGGER tasks_fanout_delete AFTER DELETE ON tasks
     WHEN OLD.fanout_id IS NOT NULL AND ${wasOpen}
     BEGIN UPDATE fanouts SET open_tasks = open_tasks - 1 WHERE id = OLD.fanout_id; END`,
    `DROP TRIGGER IF EXISTS tasks_final_immutable`,
    `DROP TRIGGER IF EXISTS tasks_legal_transition`,
    `DROP TRIGGER IF EXISTS tasks_final_undeletable`,
    // A finished task is history: no column of it may change.
    `CREATE TRIGGER tasks_final_immutable BEFORE UPDATE ON tasks
     WHEN ${sqlAnyOf("OLD.status", FINAL_STATUSES)}
     BEGIN SELECT RAISE(ABORT, 'task_final: a finished task is immutable'); END`,
    `CREATE TRIGGER tasks_legal_transition BEFORE UPDATE OF status ON tasks
     WHEN NEW.status <> OLD.status AND NOT (${legal})
     BEGIN SELECT RAISE(ABORT, 'task_transition: illegal status transition'); END`,
    // Deleted only by the retention purge, which holds a permit inside its transaction.
    `CREATE TRIGGER tasks_final_undeletable BEFORE DELETE ON tasks
     WHEN ${sqlAnyOf("OLD.status", FINAL_STATUSES)} AND NOT EXISTS (SELECT 1 FROM purge_permits)
     BEGIN SELECT RAISE(ABORT, 'task_final: a finished task is immutable'); END`,
    // The audit trail is append-only; the purge alone removes what is past its retention.
    `DROP TRIGGER IF EXISTS audit_events_immutable`,
    `DROP TRIGGER IF EXISTS audit_events_undeletable`,
    `CREATE TRIGGER audit_events_immutable BEFORE UPDATE ON audit_events
     BEGIN SELECT RAISE(ABORT, '${AUDIT_IMMUTABLE}'); END`,
    `CREATE TRIGGER audit_events_undeletable BEFORE DELETE ON audit_events
     WHEN NOT EXISTS (SELECT 1 FROM purge_permits)
     BEGIN SELECT RAISE(ABORT, '${AUDIT_IMMUTABLE}'); END`,
  ];
}

/** What the database answers a change to the audit trail. */
const AUDIT_IMMUTABLE = "audit_immutable: the audit trail is append-only";

/**
 * The bookkeeping the triggers keep, computed afresh from the tasks: for bulk loads that
 * insert tasks directly (the demo seed, the benchmark's history), and the migration that
 * introduced it.
 */
export function recountStatements(): string[] {
  return [
    `DELETE FROM task_counts`,
    `INSERT INTO task_counts (organization_id, type, status, n) SELECT organization_id, type, status, count(*) FROM tasks GROUP BY organization_id, type, status`,
    fanoutRecountStatement(),
  ];
}

/**
 * Each fan-out's bookkeeping (open tasks, when it finished, its counted final statuses)
 * computed afresh from its tasks. Also run by a PostgreSQL start that makes the triggers
 * again (db/pg.ts), in that transaction: moves committed between a migration's backfill and
 * the new triggers, by nodes still running the old ones, are counted too.
 */
export function fanoutRecountStatement(): string {
  const open = sqlList(OPEN_STATUSES);
  return `UPDATE fanouts SET
       open_tasks = (SELECT count(*) FROM tasks WHERE tasks.fanout_id = fanouts.id AND tasks.status IN (${open})),
       ${COUNTED.map(([st, col]) => `${col} = (SELECT count(*) FROM tasks WHERE tasks.fanout_id = fanouts.id AND tasks.status = '${st}'),`).join("\n       ")}
       finished_at = CASE WHEN EXISTS (SELECT 1 FROM tasks WHERE tasks.fanout_id = fanouts.id AND tasks.status IN (${open})) THEN NULL
                     ELSE (SELECT max(finished_at) FROM tasks WHERE tasks.fanout_id = fanouts.id) END`;
}

/**
 * The same guard and bookkeeping for PostgreSQL, in PL/pgSQL, from the same rules. Row
 * triggers refuse what taskTriggerStatements refuses, with the same messages.
 *
 * The bookkeeping cannot be kept as SQLite keeps it. There, writes run one at a time; here,
 * transactions of every node run side by side, and a counter row (an organization's PENDING
 * SYNC tasks, say) updated as each statement runs would stay locked until its transaction
 * commits: transactions would queue on it, and two that took two counters in turn would
 * deadlock. So each statement (its transition tables, grouped: a 10,000-task fan-out's moves
 * are a few rows) only notes its changes in a scratch table, keyed by its transaction; at
 * commit, one deferred trigger applies the transaction's sum to the counters and the fan-outs,
 * each set in key order, and clears its notes. Counter locks are then held from that moment
 * to the commit only, always taken in the same order. Inserts are counted here too (one
 * grouped statement per INSERT). Made again, in one transaction, by a start that finds the database's different (db/pg.ts).
 *
 * An update's two transition tables are grouped each on its own, never joined: the old rows
 * are taken off their counters and the new ones added, so a row whose status did not move
 * cancels out; and since a final task is immutable (above), every old row was open, so each
 * new row that is not is one task of its fan-out finished. A join had no
 * statistics to plan with, and PL/pgSQL keeps a statement's first plan for the connection:
 * after a one-task statement it joined by nested loop, 2.4 s for 3,000 tasks.
 */
export function pgTaskTriggerStatements(): string[] {
  const legal = TASK_STATUSES.filter((from) => TRANSITIONS[from].length > 0)
    .map((from) => `(OLD.status = '${from}' AND ${sqlAnyOf("NEW.status", TRANSITIONS[from])})`)
    .join(" OR ");
  const raise = (name: string, message: string) =>
    `CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${message}' USING ERRCODE = 'check_violation'; END $$`;
  const open = (alias: string) => sqlAnyOf(`${alias}.status`, OPEN_STATUSES);
  /** Notes changes (rows of organization_id, type, status, k) and fan-outs closed (fanout_id, k, last, then the counted statuses) for the commit. */
  const note = (counts: string, closed: string | null) => `
     INSERT INTO taskwire_pending_counts (xid, organization_id, type, status, k) SELECT txid_current(), organization_id, type, status, sum(k) FROM (${counts}) c GROUP BY 2, 3, 4 HAVING sum(k) <> 0;
     ${closed ? `INSERT INTO taskwire_pending_fanouts (xid, fanout_id, k, last, ${COUNTED.map(([, col]) => col).join(", ")}) ${closed};` : ""}
     INSERT INTO taskwire_pending_commit (xid) VALUES (txid_current()) ON CONFLICT DO NOTHING;`;
  const purgeOnly = (name: string, message: string) =>
    `CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
       IF EXISTS (SELECT 1 FROM purge_permits) THEN RETURN OLD; END IF;
       RAISE EXCEPTION '${message}' USING ERRCODE = 'check_violation'; END $$`;
  const fn = (name: string, body: string) => `CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body} RETURN NULL; END $$`;
  return [
    // Scratch: rows live from a statement to its transaction's commit, so unlogged.
    `CREATE UNLOGGED TABLE IF NOT EXISTS taskwire_pending_counts (xid bigint NOT NULL, organization_id text NOT NULL, type text NOT NULL, status text NOT NULL, k integer NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS taskwire_pending_counts_xid ON taskwire_pending_counts (xid)`,
    `CREATE UNLOGGED TABLE IF NOT EXISTS taskwire_pending_fanouts (xid bigint NOT NULL, fanout_id bigint NOT NULL, k integer NOT NULL, last bigint)`,
    // A fan-out's number is a bigint (db/schema/pg/columns.ts); the table of an older start held an integer.
    `DO $$ BEGIN
       IF (SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'taskwire_pending_fanouts' AND column_name = 'fanout_id') <> 'bigint'
       THEN ALTER TABLE taskwire_pending_fanouts ALTER COLUMN fanout_id TYPE bigint; END IF; END $$`,
    `CREATE INDEX IF NOT EXISTS taskwire_pending_fanouts_xid ON taskwire_pending_fanouts (xid)`,
    ...COUNTED.map(([, col]) => `ALTER TABLE taskwire_pending_fanouts ADD COLUMN IF NOT EXISTS ${col} integer NOT NULL DEFAULT 0`),
    `CREATE UNLOGGED TABLE IF NOT EXISTS taskwire_pending_commit (xid bigint PRIMARY KEY)`,
    raise("taskwire_task_final", "task_final: a finished task is immutable"),
    // A trigger's WHEN may not read a table here: the purge's permit is looked for in the function.
    purgeOnly("taskwire_task_final_delete", "task_final: a finished task is immutable"),
    raise("taskwire_task_transition", "task_transition: illegal status transition"),
    fn(
      "taskwire_tasks_inserted",
      note(`SELECT organization_id, type, status, count(*) AS k FROM new_rows GROUP BY 1, 2, 3`, null),
    ),
    fn(
      "taskwire_tasks_updated",
      note(
        `SELECT organization_id, type, status, -count(*) AS k FROM old_rows GROUP BY 1, 2, 3
          UNION ALL SELECT organization_id, type, status, count(*) FROM new_rows GROUP BY 1, 2, 3`,
        `SELECT txid_current(), n.fanout_id, count(*), max(n.finished_at), ${COUNTED.map(([st]) => `count(*) FILTER (WHERE n.status = '${st}')`).join(", ")} FROM new_rows n WHERE n.fanout_id IS NOT NULL AND NOT ${open("n")} GROUP BY 2`,
      ),
    ),
    fn(
      "taskwire_tasks_deleted",
      note(
        `SELECT organization_id, type, status, -count(*) AS k FROM old_rows GROUP BY 1, 2, 3`,
        `SELECT txid_current(), o.fanout_id, count(*), NULL::bigint, ${COUNTED.map(() => "0").join(", ")} FROM old_rows o WHERE o.fanout_id IS NOT NULL AND ${open("o")} GROUP BY 2`,
      ),
    ),
    // At commit: the counters, then the fan-outs, each in key order.
    fn(
      "taskwire_tasks_commit",
      `INSERT INTO task_counts (organization_id, type, status, n)
         SELECT organization_id, type, status, sum(k) FROM taskwire_pending_counts WHERE xid = NEW.xid GROUP BY 1, 2, 3 HAVING sum(k) <> 0 ORDER BY 1, 2, 3
         ON CONFLICT (organization_id, type, status) DO UPDATE SET n = task_counts.n + excluded.n;
       PERFORM 1 FROM fanouts WHERE id IN (SELECT fanout_id FROM taskwire_pending_fanouts WHERE xid = NEW.xid) ORDER BY id FOR UPDATE;
       UPDATE fanouts f SET open_tasks = f.open_tasks - d.k, ${COUNTED.map(([, col]) => `${col} = f.${col} + d.${col}`).join(", ")},
           finished_at = CASE WHEN f.open_tasks = d.k THEN coalesce(d.last, f.finished_at) ELSE f.finished_at END
         FROM (SELECT fanout_id, sum(k) AS k, max(last) AS last, ${COUNTED.map(([, col]) => `sum(${col}) AS ${col}`).join(", ")} FROM taskwire_pending_fanouts WHERE xid = NEW.xid GROUP BY 1) d WHERE f.id = d.fanout_id;
       DELETE FROM taskwire_pending_counts WHERE xid = NEW.xid;
       DELETE FROM taskwire_pending_fanouts WHERE xid = NEW.xid;
       DELETE FROM taskwire_pending_commit WHERE xid = NEW.xid;`,
    ),
    ...["tasks_final_immutable", "tasks_legal_transition", "tasks_final_undeletable", "tasks_bookkeeping_insert", "tasks_bookkeeping_update", "tasks_bookkeeping_delete"].map(
      (t) => `DROP TRIGGER IF EXISTS ${t} ON tasks`,
    ),
    `DROP TRIGGER IF EXISTS taskwire_commit ON taskwire_pending_commit`,
    `CREATE TRIGGER tasks_final_immutable BEFORE UPDATE ON tasks FOR EACH ROW
     WHEN (${sqlAnyOf("OLD.status", FINAL_STATUSES)}) EXECUTE FUNCTION taskwire_task_final()`,
    `CREATE TRIGGER tasks_legal_transition BEFORE UPDATE OF status ON tasks FOR EACH ROW
     WHEN (NEW.status <> OLD.status AND NOT (${legal})) EXECUTE FUNCTION taskwire_task_transition()`,
    `CREATE TRIGGER tasks_final_undeletable BEFORE DELETE ON tasks FOR EACH ROW
     WHEN (${sqlAnyOf("OLD.status", FINAL_STATUSES)}) EXECUTE FUNCTION taskwire_task_final_delete()`,
    `CREATE TRIGGER tasks_bookkeeping_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION taskwire_tasks_inserted()`,
    `CREATE TRIGGER tasks_bookkeeping_update AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION taskwire_tasks_updated()`,
    `CREATE TRIGGER tasks_bookkeeping_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
     FOR EACH STATEMENT EXECUTE FUNCTION taskwire_tasks_deleted()`,
    `CREATE CONSTRAINT TRIGGER taskwire_commit AFTER INSERT ON taskwire_pending_commit DEFERRABLE INITIALLY DEFERRED
     FOR EACH ROW EXECUTE FUNCTION taskwire_tasks_commit()`,
    raise("taskwire_audit_immutable", AUDIT_IMMUTABLE),
    purgeOnly("taskwire_audit_delete", AUDIT_IMMUTABLE),
    `DROP TRIGGER IF EXISTS audit_events_immutable ON audit_events`,
    `DROP TRIGGER IF EXISTS audit_events_undeletable ON audit_events`,
    `CREATE TRIGGER audit_events_immutable BEFORE UPDATE ON audit_events FOR EACH ROW EXECUTE FUNCTION taskwire_audit_immutable()`,
    `CREATE TRIGGER audit_events_undeletable BEFORE DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION taskwire_audit_delete()`,
  ];
}
