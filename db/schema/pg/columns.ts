import { sql } from "drizzle-orm";
import { bigint, customType } from "drizzle-orm/pg-core";

// PostgreSQL's columns for what SQLite keeps as integers: a moment is epoch milliseconds
// (`bigint`) in both dialects, so a time reads as the same number in either database and the
// statements written by hand (the triggers, the agents' batches) compute with it alike.

/** A moment, stored as epoch milliseconds, read as a Date. */
export const epochMs = customType<{ data: Date; driverData: number | string }>({
  dataType: () => "bigint",
  toDriver: (d) => d.getTime(),
  fromDriver: (v) => new Date(Number(v)),
});

/** Now, as epoch milliseconds: the default of better-auth's timestamps. */
export const NOW_MS = sql`(floor(extract(epoch from clock_timestamp()) * 1000)::bigint)`;

/**
 * A row's number, and a column naming one: `bigint`, as SQLite's integer key is 64-bit. A fleet
 * of 100,000 devices synced hourly issues 2.4 million tasks a day, and PostgreSQL's `integer`
 * would run out after 2.4 years, whatever retention deletes. Read as a number: every row
 * number stays below 2^53 (rules/codes.ts, ROW_ID_MAX).
 */
export const rowId = (name: string) => bigint(name, { mode: "number" });
