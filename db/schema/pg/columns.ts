import { sql } from "drizzle-orm";
import { customType } from "drizzle-orm/pg-core";

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
