// What a code looks like, apart from how one is drawn (lib/crypto.ts, node:crypto): the
// browser checks codes too, and must not pull a crypto polyfill into its bundle for it.

export const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export const CODE_PATTERN = /^[0-9A-Za-z]{8}$/;

/**
 * A row's number (a task's, a fan-out's, a schedule's, an audit event's): a whole number up
 * to 2^53 − 1, the largest a JSON number holds exactly. Both databases keep it in 64 bits
 * (SQLite's integer key, PostgreSQL's `bigint`). A larger one names no row, and sent to the
 * database it is the database's error or another row's number, not an answer.
 */
export const ROW_ID_MAX = Number.MAX_SAFE_INTEGER;
export const isRowId = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= ROW_ID_MAX;
