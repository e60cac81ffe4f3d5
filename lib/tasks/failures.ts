import { FAILURE_PREFIX } from "../../rules/fanouts";

// The one rule for grouping failure messages: two failures are "the same" when their
// messages differ only in the parts that vary from device to device.

/** Each variable part and what it becomes, applied in this order (quoted values first, so what they hold is not rewritten). */
const VARIABLE_PARTS: [RegExp, string][] = [
  // Quoted values: "web_servers", 'lan', `pfctl -f`.
  [/"[^"]*"|'[^']*'|`[^`]*`/g, '"…"'],
  // UUIDs.
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "<id>"],
  // MAC addresses.
  [/\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b/gi, "<mac>"],
  // IPv4 addresses, with a port or a prefix length.
  [/\b\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2}|:\d{1,5})?\b/g, "<ip>"],
  // IPv6 addresses (with a "::" or all eight groups), with a prefix length.
  [/(?<![\w:])(?=[0-9a-f:]*::|(?:[0-9a-f]{1,4}:){7})[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:\/\d{1,3})?(?![\w:])/gi, "<ip>"],
  // Hexadecimal ids and hashes (8 or more digits, at least one a number).
  [/\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b/gi, "<id>"],
  // Codes mixing letters and digits (task codes, serial numbers): aB3dE5fG, FW-2291-X.
  [/\b(?=[a-z]*\d)(?=\d*[a-z])[a-z0-9]{6,}\b/gi, "<id>"],
  // Indexes in brackets: Alias[3], rules[12].
  [/\[\d+\]/g, "[#]"],
  // Any other number, with its decimals: 30001 ms, 1.2.3, -5.
  [/\d+(?:[.,]\d+)*/g, "#"],
];

/**
 * A failure message's group: its first FAILURE_PREFIX characters (rules/fanouts.ts) with
 * the variable parts collapsed (quoted values, ids,
 * addresses, bracketed indexes, numbers) and the spacing made even. "Alias[3] 'lan' has
 * no host 10.0.0.7" and "Alias[7] 'dmz' has no host 10.0.9.1" are one group, `Alias[#]
 * "…" has no host <ip>`; the result reads as the message's template, so it is shown as
 * the group's name. An empty or missing message is its own group, "".
 */
export function failureGroup(message: string | null | undefined): string {
  const whole = message ?? "";
  // A slice of a long string keeps the whole of it alive: the head kept in the memo is a copy.
  const prefix = whole.length > FAILURE_PREFIX ? Buffer.from(whole.slice(0, FAILURE_PREFIX)).toString() : whole;
  const known = memo.get(prefix);
  if (known !== undefined) return known;
  let m = prefix;
  for (const [pattern, replacement] of VARIABLE_PARTS) m = m.replace(pattern, replacement);
  const group = m.replace(/\s+/g, " ").trim();
  // A fan-out's distinct messages are read again by every look at its page: each is
  // normalised once per process (the map forgets its oldest past MEMO_MAX).
  memo.set(prefix, group);
  if (memo.size > MEMO_MAX) memo.delete(memo.keys().next().value!);
  return group;
}

const memo = new Map<string, string>();
const MEMO_MAX = 20_000;

/** A group's name as a person reads it. */
export const failureGroupLabel = (group: string) => group || "(no message)";
