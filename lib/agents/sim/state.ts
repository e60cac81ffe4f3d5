// The fleet's state file: which server it enrolled with and each agent's credentials, so a
// restart reuses tokens instead of enrolling again (tokens are shown only once).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";

const agentEntrySchema = z.object({
  name: z.string().min(1),
  device_id: z.string().min(1),
  device_token: z.string().min(1),
  /** The last task sequence number accepted, so a replay is refused across restarts too. */
  last_seq: z.number().int().nonnegative().optional(),
  version: z.string().optional(),
});
export type AgentEntry = z.infer<typeof agentEntrySchema>;

const stateSchema = z.object({
  url: z.string(),
  agents: z.array(agentEntrySchema),
});
export type FleetState = z.infer<typeof stateSchema>;

export class StateFileError extends Error {}

/** Reads a state file, whatever server it names: null when there is none, an error when it is damaged. */
export function readState(path: string): FleetState | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new StateFileError(`Cannot read the state file ${path}: ${(e as Error).message}`);
  }
  try {
    return stateSchema.parse(JSON.parse(text));
  } catch {
    throw new StateFileError(`The state file ${path} is not a fleet state file (delete it to enroll again)`);
  }
}

/** Reads the state file of the fleet of `url`; a missing file is an empty fleet, a damaged one or another server's is an error. */
export function loadState(path: string, url: string): FleetState {
  const parsed = readState(path);
  if (!parsed) return { url, agents: [] };
  if (parsed.url !== url) {
    throw new StateFileError(
      `The state file ${path} holds agents enrolled with ${parsed.url}, not ${url}; pass --state with another file (or delete it)`,
    );
  }
  return parsed;
}

/** Writes atomically (temporary file, then rename): a crash mid-write never loses tokens. */
export function saveState(path: string, state: FleetState): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}
