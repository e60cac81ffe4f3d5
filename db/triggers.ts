import { FINAL_STATUSES, sqlList, TASK_STATUSES, TRANSITIONS } from "../lib/tasks/constants";

/**
 * The database's own guard of the task state machine, generated from the one transition
 * table so the two can never disagree. Re-created on every start (after migrations), so a
 * change to the rules reaches existing databases without a hand-written migration.
 */
export function taskTriggerStatements(): string[] {
  const legal = TASK_STATUSES.filter((from) => TRANSITIONS[from].length > 0)
    .map((from) => `(OLD.status = '${from}' AND NEW.status IN (${sqlList(TRANSITIONS[from])}))`)
    .join(" OR ");
  return [
    `DROP TRIGGER IF EXISTS tasks_final_immutable`,
    `DROP TRIGGER IF EXISTS tasks_legal_transition`,
    `DROP TRIGGER IF EXISTS tasks_final_undeletable`,
    // A finished task is history: no column of it may change.
    `CREATE TRIGGER tasks_final_immutable BEFORE UPDATE ON tasks
     WHEN OLD.status IN (${sqlList(FINAL_STATUSES)})
     BEGIN SELECT RAISE(ABORT, 'task_final: a finished task is immutable'); END`,
    `CREATE TRIGGER tasks_legal_transition BEFORE UPDATE OF status ON tasks
     WHEN NEW.status <> OLD.status AND NOT (${legal})
     BEGIN SELECT RAISE(ABORT, 'task_transition: illegal status transition'); END`,
    `CREATE TRIGGER tasks_final_undeletable BEFORE DELETE ON tasks
     WHEN OLD.status IN (${sqlList(FINAL_STATUSES)})
     BEGIN SELECT RAISE(ABORT, 'task_final: a finished task is immutable'); END`,
  ];
}
