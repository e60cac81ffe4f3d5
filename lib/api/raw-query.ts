import type { IncomingMessage, ServerResponse } from "node:http";

// Next.js rebuilds a request's URL from its query parsed into a plain object, so a parameter
// named __proto__ never reaches a route handler: GET /api/v1/tasks?__proto__=1 would read as
// a bare list. The JSON API refuses a parameter it does not know (lib/api/http.ts
// parseQuery), so this one is refused here, from the raw URL, in the same words, before
// Next sees the request. Plain Node (no "server-only", no path aliases): server.ts runs it.

/** Parameter names the router drops before the API could refuse them. */
const LOST_IN_ROUTING = new Set(["__proto__"]);

/**
 * Answers a JSON API request whose raw query names a parameter Next would drop with the
 * API's 400 for an unknown parameter; true if it answered.
 */
export function refuseLostQueryParameters(req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  if (q < 0 || !url.startsWith("/api/v1/")) return false;
  const lost = [...new Set([...new URLSearchParams(url.slice(q + 1)).keys()].filter((k) => LOST_IN_ROUTING.has(k)))];
  if (!lost.length) return false;
  const fields = Object.fromEntries(lost.map((k) => [k, ["Unknown query parameter"]]));
  const body = JSON.stringify({ error: { code: "invalid", message: `${lost[0]}: Unknown query parameter`, fields } });
  res.writeHead(400, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(body);
  // Whatever body came with it is read and dropped, so the client sees this answer.
  req.resume();
  return true;
}
