// What a code looks like, apart from how one is drawn (lib/crypto.ts, node:crypto): the
// browser checks codes too, and must not pull a crypto polyfill into its bundle for it.

export const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export const CODE_PATTERN = /^[0-9A-Za-z]{8}$/;

/**
 * A row's number (a task's, a fan-out's, a schedule's, an audit event's): a whole number up
 * to the largest PostgreSQL's `integer` holds. A larger one names no row, and sent to
 * PostgreSQL it is the database's error, not an answer.
 */
export const ROW_ID_MAX = 2 ** 31 - 1;
export const isRowId = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= ROW_ID_MAX;
