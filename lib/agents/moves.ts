import type { Db } from "../../db/client";
import { recordAgentMoves, type ResultAck } from "../tasks/agent-verbs";
import { TickBatch } from "./batch";

type Accept = { deviceId: string; code: string };
type Result = { deviceId: string; raw: unknown };

/**
 * A node's agents' acknowledgements and results, gathered as they arrive and written together
 * (`recordAgentMoves`: one transaction, the acknowledgements first), one batch at a time.
 */
export class AgentMoves {
  private readonly batch = new TickBatch(async (items: ({ accept: Accept } | { result: Result })[]) => {
    const accepts: Accept[] = [];
    const results: Result[] = [];
    // Each item's place among its kind.
    const slots = items.map((m) => ("accept" in m ? accepts.push(m.accept) : -results.push(m.result)));
    const out = await recordAgentMoves({ db: this.db }, accepts, results);
    return slots.map((k): boolean | ResultAck => (k > 0 ? out.accepted[k - 1] : out.results[-k - 1]));
  });

  constructor(private readonly db: Db) {}

  /** The agent took the task; answers whether it moved (PENDING → IN_PROGRESS). */
  accept(deviceId: string, code: string): Promise<boolean> {
    return this.batch.add({ accept: { deviceId, code } }) as Promise<boolean>;
  }

  /** The agent's result, as it sent it; answers what the agent is told. */
  result(deviceId: string, raw: unknown): Promise<ResultAck> {
    return this.batch.add({ result: { deviceId, raw } }) as Promise<ResultAck>;
  }
}
