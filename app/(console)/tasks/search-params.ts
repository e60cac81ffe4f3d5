// No zod: the live list imports listHref into the browser.

/** A keyset position from the URL: a positive whole number, or nothing. */
function id(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** The list's URL: the filters (validated by the domain) and a keyset position. */
export function pickFilter(sp: Record<string, string | string[] | undefined>) {
  const one = (k: string) => {
    const v = sp[k];
    const s = Array.isArray(v) ? v[0] : v;
    return s === undefined || s === "" ? undefined : s;
  };
  return {
    filter: { device: one("device"), type: one("type"), status: one("status"), fanout: one("fanout") },
    position: { before: id(one("before")), after: id(one("after")) },
  };
}

/** A list page's URL: its filters and a keyset position, empty values left out. */
export function pageHref(base: string, filter: Record<string, string | undefined>, position: { before?: number; after?: number } = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...filter, ...position })) if (v !== undefined && String(v) !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `${base}?${s}` : base;
}

export const listHref = (filter: Record<string, string | undefined>, position: { before?: number; after?: number } = {}) => pageHref("/tasks", filter, position);
