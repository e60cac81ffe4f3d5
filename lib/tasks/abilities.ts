import { roleAtLeast, type Role } from "../../rules/roles";
import { statusAllows, type TaskStatus } from "../../rules/tasks";

export type TaskAbilities = { cancel: boolean; rerun: boolean };

/**
 * What an actor may do to a task: the detail page shows these buttons, and cancelTask and
 * rerunTask refuse what this refuses. A deleted device's task cannot be re-run (no device
 * would take it).
 */
export function abilities(actor: { role: Role }, task: { status: TaskStatus; deviceDeleted: boolean }): TaskAbilities {
  const canWrite = roleAtLeast(actor.role, "READ_WRITE");
  const byStatus = statusAllows(task.status);
  return { cancel: canWrite && byStatus.cancel, rerun: canWrite && byStatus.rerun && !task.deviceDeleted };
}
