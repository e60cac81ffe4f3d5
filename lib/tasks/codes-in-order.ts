import { randomCodes } from "../crypto";
import { ALPHABET } from "../../rules/codes";

/**
 * `count` codes drawn as randomCodes draws them, in ascending order: the order of the code's
 * unique index on both dialects (binary comparison, ALPHABET's order). A fan-out's INSERT then
 * walks that index once from one end to the other, where codes in the order drawn each land
 * on a leaf page of their own among a million, and a page left is met again further on.
 * Sorting 100,000 at once would hold the loop 30–60 ms, so the codes are kept by their first
 * character as they are drawn, `perDraw` at a time, and each of the 62 groups is sorted on
 * its own; `pace` (the caller's pacer) lets the loop turn between the steps.
 */
export async function randomCodesInOrder(count: number, pace: () => Promise<void>, perDraw = 500): Promise<string[]> {
  const groups: string[][] = Array.from(ALPHABET, () => []);
  for (let i = 0; i < count; i += perDraw) {
    if (i > 0) await pace();
    for (const code of randomCodes(Math.min(perDraw, count - i))) groups[ALPHABET.indexOf(code[0])].push(code);
  }
  const out: string[] = [];
  for (const group of groups) {
    await pace();
    group.sort();
    for (const code of group) out.push(code);
  }
  return out;
}
