import { FINAL_STATUSES, OPEN_STATUSES, TASK_STATUSES, TRANSITIONS } from "./tasks";

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
     BEGIN UPDATE fanouts SET open_tasks = open_tasks - 1, finished_at = CASE WHEN open_tasks = 1 THEN NEW.finished_at ELSE finished_at END WHERE id = NEW.fanout_id; END`,
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
    `CREATE TRIGGER tasks_final_undeletable BEFORE DELETE ON tasks
     WHEN ${sqlAnyOf("OLD.status", FINAL_STATUSES)}
     BEGIN SELECT RAISE(ABORT, 'task_final: a finished task is immutable'); END`,
  ];
}

/**
 * The bookkeeping the triggers keep, computed afresh from the tasks: for bulk loads that
 * insert tasks directly (the demo seed, the benchmark's history), and the migration that
 * introduced it.
 */
export function recountStatements(): string[] {
  const open = sqlList(OPEN_STATUSES);
  return [
    `DELETE FROM task_counts`,
    `INSERT INTO task_counts (organization_id, type, status, n) SELECT organization_id, type, status, count(*) FROM tasks GROUP BY organization_id, type, status`,
    `UPDATE fanouts SET
       open_tasks = (SELECT count(*) FROM tasks WHERE tasks.fanout_id = fanouts.id AND tasks.status IN (${open})),
       finished_at = CASE WHEN EXISTS (SELECT 1 FROM tasks WHERE tasks.fanout_id = fanouts.id AND tasks.status IN (${open})) THEN NULL
                     ELSE (SELECT max(finished_at) FROM tasks WHERE tasks.fanout_id = fanouts.id) END`,
  ];
}

/**
 * The same guard and bookkeeping for PostgreSQL, in PL/pgSQL, from the same rules: row
 * triggers refuse what taskTriggerStatements refuses, with the same messages; the bookkeeping
 * runs once per statement over its transition tables (a 10,000-task fan-out's moves are a
 * few grouped updates, not 10,000). Counters are changed in key order, and the fan-outs
 * locked in id order, so two transactions moving tasks at once queue on a counter rather
 * than deadlock. Re-created at every start, in one transaction (db/pg.ts).
 */
export function pgTaskTriggerStatements(): string[] {
  const legal = TASK_STATUSES.filter((from) => TRANSITIONS[from].length > 0)
    .map((from) => `(OLD.status = '${from}' AND ${sqlAnyOf("NEW.status", TRANSITIONS[from])})`)
    .join(" OR ");
  const raise = (name: string, message: string) =>
    `CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${message}' USING ERRCODE = 'check_violation'; END $$`;
  const openWas = (alias: string) => sqlAnyOf(`${alias}.status`, OPEN_STATUSES);
  // Counters as one ordered upsert of signed changes; fan-outs locked in id order first.
  const countChanges = (changes: string) => `INSERT INTO task_counts (organization_id, type, status, n)
       SELECT organization_id, type, status, sum(k) FROM (${changes}) c GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
       ON CONFLICT (organization_id, type, status) DO UPDATE SET n = task_counts.n + excluded.n;`;
  const closeFanouts = (closed: string) => `PERFORM 1 FROM fanouts WHERE id IN (SELECT fanout_id FROM (${closed}) d) ORDER BY id FOR UPDATE;
     UPDATE fanouts f SET open_tasks = f.open_tasks - d.k,
         finished_at = CASE WHEN f.open_tasks = d.k THEN coalesce(d.last, f.finished_at) ELSE f.finished_at END
       FROM (${closed}) d WHERE f.id = d.fanout_id;`;
  const moved = `old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status <> o.status`;
  return [
    raise("taskwire_task_final", "task_final: a finished task is immutable"),
    raise("taskwire_task_transition", "task_transition: illegal status transition"),
    `CREATE OR REPLACE FUNCTION taskwire_tasks_updated() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
     ${countChanges(`SELECT o.organization_id, o.type, o.status, -count(*) AS k FROM ${moved} GROUP BY 1, 2, 3
        UNION ALL SELECT n.organization_id, n.type, n.status, count(*) FROM ${moved} GROUP BY 1, 2, 3`)}
     ${closeFanouts(`SELECT n.fanout_id, count(*) AS k, max(n.finished_at) AS last FROM ${moved}
        AND n.fanout_id IS NOT NULL AND ${openWas("o")} AND NOT ${openWas("n")} GROUP BY 1`)}
     RETURN NULL; END $$`,
    `CREATE OR REPLACE FUNCTION taskwire_tasks_deleted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
     ${countChanges(`SELECT organization_id, type, status, -count(*) AS k FROM old_rows GROUP BY 1, 2, 3`)}
     ${closeFanouts(`SELECT fanout_id, count(*) AS k, NULL::bigint AS last FROM old_rows o WHERE fanout_id IS NOT NULL AND ${openWas("o")} GROUP BY 1`)}
     RETURN NULL; END $$`,
    ...["tasks_final_immutable", "tasks_legal_transition", "tasks_final_undeletable", "tasks_bookkeeping_update", "tasks_bookkeeping_delete"].map(
      (t) => `DROP TRIGGER IF EXISTS ${t} ON tasks`,
    ),
    `CREATE TRIGGER tasks_final_immutable BEFORE UPDATE ON tasks FOR EACH ROW
     WHEN (${sqlAnyOf("OLD.status", FINAL_STATUSES)}) EXECUTE FUNCTION taskwire_task_final()`,
    `CREATE TRIGGER tasks_legal_transition BEFORE UPDATE OF status ON tasks FOR EACH ROW
     WHEN (NEW.status <> OLD.status AND NOT (${legal})) EXECUTE FUNCTION taskwire_task_transition()`,
    `CREATE TRIGGER tasks_final_undeletable BEFORE DELETE ON tasks FOR EACH ROW
     WHEN (${sqlAnyOf("OLD.status", FINAL_STATUSES)}) EXECUTE FUNCTION taskwire_task_final()`,
    `CREATE TRIGGER tasks_bookkeeping_update AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION taskwire_tasks_updated()`,
    `CREATE TRIGGER tasks_bookkeeping_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
     FOR EACH STATEMENT EXECUTE FUNCTION taskwire_tasks_deleted()`,
  ];
}
