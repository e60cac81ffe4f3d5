import { z } from "zod";

const id = z.coerce.number().int().positive().optional().catch(undefined);

/** The list's URL: the filters (validated by the domain) and a keyset position. */
export const positionSchema = z.object({ before: id, after: id });

export function pickFilter(sp: Record<string, string | string[] | undefined>) {
  const one = (k: string) => {
    const v = sp[k];
    const s = Array.isArray(v) ? v[0] : v;
    return s === undefined || s === "" ? undefined : s;
  };
  return {
    filter: { device: one("device"), type: one("type"), status: one("status"), fanout: one("fanout") },
    position: positionSchema.parse({ before: one("before"), after: one("after") }),
  };
}

export function listHref(filter: Record<string, string | undefined>, position: { before?: number; after?: number } = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...filter, ...position })) if (v !== undefined && String(v) !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `/tasks?${s}` : "/tasks";
}
