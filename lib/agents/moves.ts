import type { Db } from "../../db/client";
import { recordAgentMoves, type ResultAck } from "../tasks/agent-verbs";
import { TickBatch } from "./batch";

/**
 * A node's agents' acknowledgements and results, each kind gathered as it arrives and written
 * a batch at a time (`recordAgentMoves`). The two kinds go in transactions of their own.
 * Written together, acknowledgements first, they were once faster on one node (+6% results/s
 * on PostgreSQL, +17–22% on SQLite; measured again later, no gain on SQLite), but on three
 * nodes sharing one PostgreSQL the results fell from 1,742/s to 594/s: commits queued on each
 * other (2.5 sessions waiting in `COMMIT` on average, the dispatchers' sequence numbers
 * waiting behind the fan-outs). Likely: each batch of both kinds took the PENDING counter at
 * commit, as every fan-out does (docs/performance.md).
 */
export class AgentMoves {
  private readonly accepts: TickBatch<{ deviceId: string; code: string }, boolean>;
  private readonly results: TickBatch<{ deviceId: string; raw: unknown }, ResultAck>;

  constructor(db: Db) {
    this.accepts = new TickBatch(async (items) => (await recordAgentMoves({ db }, items, [])).accepted);
    this.results = new TickBatch(async (items) => (await recordAgentMoves({ db }, [], items)).results);
  }

  /** The agent took the task; answers whether it moved (PENDING → IN_PROGRESS). */
  accept(deviceId: string, code: string): Promise<boolean> {
    return this.accepts.add({ deviceId, code });
  }

  /** The agent's result, as it sent it; answers what the agent is told. */
  result(deviceId: string, raw: unknown): Promise<ResultAck> {
    return this.results.add({ deviceId, raw });
  }
}
