import type Database from "better-sqlite3";

/** A value of a statement: given, or the first rowid an earlier step of the batch inserted. */
export type BatchValue = unknown | { lastIdOf: number };

/** One statement of a batch: run once, or once per row. */
export type BatchStep = {
  sql: string;
  params?: BatchValue[];
  /**
   * Run once per row: `names` are the statement's parameters in order; each takes its value
   * from `each` (a column of `count` values joined by "\n") or else from `common`.
   */
  rows?: { names: string[]; common: Record<string, BatchValue>; each: Record<string, string>; count: number };
  /** Return the rowids this step inserted. */
  ids?: boolean;
  /** Return the rows the statement reads or returns, each an array of its columns' values. */
  all?: boolean;
  /** The batch fails with CHECK_FAILED and this `failure` unless the statement changes this many rows… */
  expectChanges?: number;
  /** …or its first column reads this. */
  expectValue?: unknown;
  failure?: string;
};

export declare const CHECK_FAILED: "TASKWIRE_CHECK_FAILED";

export declare function runSteps(sqlite: Database.Database, steps: BatchStep[], prepared?: Map<string, Database.Statement>): (Float64Array | unknown[][] | null)[];
