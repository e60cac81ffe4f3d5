/** Escapes a user's text for a `LIKE … escape '\'` pattern, so `%` and `_` match themselves. */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
