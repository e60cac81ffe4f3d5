import type pg from "pg";
import type { BatchStep } from "./batch-worker.mjs";

/** Runs `run` again when PostgreSQL aborted it (a deadlock, a serialization failure), a few times at most; `told` hears of each new attempt. */
export declare function retryingAborted<T>(run: () => Promise<T>, told: (message: string) => void): Promise<T>;

/** `begin` … COMMIT on a connection of `pool`, `run` between; a failure rolls back, and a connection whose ROLLBACK failed is dropped. */
export declare function inPgTransaction<T>(pool: pg.Pool, begin: string, run: (client: pg.PoolClient) => Promise<T>): Promise<T>;

/** `?` placeholders as PostgreSQL's `$n`. */
export declare function numbered(text: string): string;

export declare function runStepsPg(client: pg.PoolClient, steps: BatchStep[]): Promise<(Float64Array | unknown[][] | null)[]>;
