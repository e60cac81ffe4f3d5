import { createHash, randomBytes } from "node:crypto";
import { ALPHABET } from "../rules/codes";

// Organizations (registration and API tokens, invitations), devices (device tokens) and
// tasks (codes) all draw from here, so it sits below every one of them.

/** How every secret is kept at rest: only its hash is stored, and a presented one is hashed to be looked up. */
export const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** A random base62 string; rejection sampling keeps every character equally likely. */
export function randomCode(length = 8): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

/** `count` codes at once: one call for the random bytes of all of them (a fan-out's worth). */
export function randomCodes(count: number, length = 8): string[] {
  const out: string[] = [];
  let code = "";
  while (out.length < count) {
    // ~3% of bytes are rejected; ask for a little more than needed.
    for (const byte of randomBytes(Math.ceil((count - out.length) * length * 1.1) + 16)) {
      if (byte >= 248) continue;
      code += ALPHABET[byte % 62];
      if (code.length === length) {
        out.push(code);
        code = "";
        if (out.length === count) break;
      }
    }
  }
  return out;
}
