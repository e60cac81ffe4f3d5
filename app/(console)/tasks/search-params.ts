// No zod: the live list imports listHref into the browser.
import { isRowId } from "@/rules/codes";

/** A keyset position from the URL: a row's number, or nothing. */
function id(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  return isRowId(n) ? n : undefined;
}

/** A list page's URL: the filters named (validated by the domain) and a keyset position. */
export function pickParams<K extends string>(sp: Record<string, string | string[] | undefined>, names: readonly K[]) {
  const one = (k: string) => {
    const v = sp[k];
    const s = Array.isArray(v) ? v[0] : v;
    return s === undefined || s === "" ? undefined : s;
  };
  return {
    filter: Object.fromEntries(names.map((n) => [n, one(n)])) as Record<K, string | undefined>,
    position: { before: id(one("before")), after: id(one("after")) },
  };
}

/** The task list's URL. */
export const pickFilter = (sp: Record<string, string | string[] | undefined>) => pickParams(sp, ["device", "type", "status", "fanout"] as const);

/** A list page's URL: its filters and a keyset position, empty values left out. */
export function pageHref(base: string, filter: Record<string, string | undefined>, position: { before?: number; after?: number } = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...filter, ...position })) if (v !== undefined && String(v) !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `${base}?${s}` : base;
}

export const listHref = (filter: Record<string, string | undefined>, position: { before?: number; after?: number } = {}) => pageHref("/tasks", filter, position);
