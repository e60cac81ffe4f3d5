import type { IncomingMessage, ServerResponse } from "node:http";
import { BODY_TOO_LARGE, errorResponse, faultResponse, internalError, MAX_BODY_BYTES, methodNotAllowed } from "@/lib/api/http";
import { NotFoundError, ValidationError } from "@/lib/errors";
import { readBody } from "@/lib/server/request-guard";
import { send } from "./send";
import * as agentEnroll from "./v1/agent/enroll/route";
import * as agentServerKey from "./v1/agent/server-key/route";
import * as audit from "./v1/audit/route";
import * as fanoutsCodeCancel from "./v1/fanouts/[code]/cancel/route";
import * as fanoutsCodeContinue from "./v1/fanouts/[code]/continue/route";
import * as fanoutsCodePause from "./v1/fanouts/[code]/pause/route";
import * as fanoutsCodeResume from "./v1/fanouts/[code]/resume/route";
import * as fanoutsCodeRetry from "./v1/fanouts/[code]/retry/route";
import * as fanoutsCode from "./v1/fanouts/[code]/route";
import * as fanoutsCodeTasksCsv from "./v1/fanouts/[code]/tasks.csv/route";
import * as fanoutsCodeTasksJson from "./v1/fanouts/[code]/tasks.json/route";
import * as fanouts from "./v1/fanouts/route";
import * as invitationsId from "./v1/invitations/[id]/route";
import * as invitations from "./v1/invitations/route";
import * as membersId from "./v1/members/[id]/route";
import * as membersIdSessions from "./v1/members/[id]/sessions/route";
import * as members from "./v1/members/route";
import * as organizationRetention from "./v1/organization/retention/route";
import * as organization from "./v1/organization/route";
import * as schedulesIdPause from "./v1/schedules/[id]/pause/route";
import * as schedulesIdResume from "./v1/schedules/[id]/resume/route";
import * as schedulesId from "./v1/schedules/[id]/route";
import * as schedules from "./v1/schedules/route";
import * as tasksCodeCancel from "./v1/tasks/[code]/cancel/route";
import * as tasksCodeRerun from "./v1/tasks/[code]/rerun/route";
import * as tasksCode from "./v1/tasks/[code]/route";
import * as tasks from "./v1/tasks/route";
import * as tokensId from "./v1/tokens/[id]/route";

// The JSON API, served by the http server itself, ahead of Next.js (server.ts): a request
// under /api/v1 goes from here to its route's handler, a Web `Request → Response` function
// in api/v1/…/route.ts, and from nothing else. Next's router cost a one-task POST about
// 2 ms before its handler started (docs/performance.md, "The API outside Next's router").
// Each path names its module; a `[name]` segment is a parameter, handed to the handler
// decoded, as Next did. Whatever goes wrong outside a handler's own adapter (lib/api/http.ts)
// is answered in the API's JSON too: a URL or header a Request cannot hold is a 400, a fault
// a 500 with no detail.

/** The methods a route module may export; HEAD and OPTIONS are answered here. */
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
type Method = (typeof METHODS)[number];
type Handler = (req: Request, route: { params: Promise<never> }) => Response | Promise<Response>;
type Routes = Partial<Record<Method, Handler>>;

const TABLE: [path: string, routes: Routes][] = [
  ["/api/v1/agent/enroll", agentEnroll],
  ["/api/v1/agent/server-key", agentServerKey],
  ["/api/v1/audit", audit],
  ["/api/v1/fanouts", fanouts],
  ["/api/v1/fanouts/[code]", fanoutsCode],
  ["/api/v1/fanouts/[code]/cancel", fanoutsCodeCancel],
  ["/api/v1/fanouts/[code]/continue", fanoutsCodeContinue],
  ["/api/v1/fanouts/[code]/pause", fanoutsCodePause],
  ["/api/v1/fanouts/[code]/resume", fanoutsCodeResume],
  ["/api/v1/fanouts/[code]/retry", fanoutsCodeRetry],
  ["/api/v1/fanouts/[code]/tasks.csv", fanoutsCodeTasksCsv],
  ["/api/v1/fanouts/[code]/tasks.json", fanoutsCodeTasksJson],
  ["/api/v1/invitations", invitations],
  ["/api/v1/invitations/[id]", invitationsId],
  ["/api/v1/members", members],
  ["/api/v1/members/[id]", membersId],
  ["/api/v1/members/[id]/sessions", membersIdSessions],
  ["/api/v1/organization", organization],
  ["/api/v1/organization/retention", organizationRetention],
  ["/api/v1/schedules", schedules],
  ["/api/v1/schedules/[id]", schedulesId],
  ["/api/v1/schedules/[id]/pause", schedulesIdPause],
  ["/api/v1/schedules/[id]/resume", schedulesIdResume],
  ["/api/v1/tasks", tasks],
  ["/api/v1/tasks/[code]", tasksCode],
  ["/api/v1/tasks/[code]/cancel", tasksCodeCancel],
  ["/api/v1/tasks/[code]/rerun", tasksCodeRerun],
  ["/api/v1/tokens/[id]", tokensId],
];

/** Every route's path as written in the table (tests check it against api/v1's files). */
export const API_PATHS = TABLE.map(([path]) => path);

const PREFIX = "/api/v1";

type Route = { segments: { literal?: string; param?: string }[]; handlers: Map<string, Handler>; allow: string };

const ROUTES: Route[] = TABLE.map(([path, routes]) => {
  const served = METHODS.filter((m) => typeof routes[m] === "function");
  return {
    segments: path
      .split("/")
      .slice(1)
      .map((s) => (s.startsWith("[") ? { param: s.slice(1, -1) } : { literal: s })),
    // Looked up by the request's method: only what is served, nothing a module object inherits.
    handlers: new Map(served.map((m) => [m, routes[m]!])),
    // What a route serves is what its module exports, and what is answered here: HEAD, by GET
    // without its body, and OPTIONS. OPTIONS and every 405 name the same list.
    allow: [...served, ...(served.includes("GET") ? ["HEAD"] : []), "OPTIONS"].join(", "),
  };
});

/** Whether a request's path (without its query) is the JSON API's. */
export function isApiPath(path: string): boolean {
  return path === PREFIX || path.startsWith(`${PREFIX}/`);
}

/** The route serving a path and its parameters, decoded; null when none does. */
function match(path: string): { route: Route; params: Record<string, string> } | null {
  let parts: string[];
  try {
    parts = path.split("/").slice(1).map(decodeURIComponent);
  } catch {
    return null;
  }
  for (const route of ROUTES) {
    if (route.segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const fits = route.segments.every((s, i) => (s.param ? ((params[s.param] = parts[i]), true) : s.literal === parts[i]));
    if (fits) return { route, params };
  }
  return null;
}

const NO_BODY = new Set(["GET", "HEAD"]);

/**
 * Answers a request under /api/v1; `path` is its URL's path. Never throws, and nothing it
 * starts rejects unhandled: a fault here is logged and answered 500, or the connection cut.
 */
export function serveApi(req: IncomingMessage, res: ServerResponse, path: string): void {
  const fault = (e: unknown) => {
    console.error(`API ${req.method} ${path} failed`, e);
    if (!res.headersSent) void send(req, res, faultResponse()).catch(() => res.destroy());
    else res.destroy();
  };
  try {
    route(req, res, path)?.catch(fault);
  } catch (e) {
    fault(e);
  }
}

function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> | undefined {
  const method = req.method ?? "GET";
  // One address per resource: a trailing slash is sent to the path without it (308, as Next),
  // when a route serves that path.
  const bare = path.replace(/\/+$/, "");
  if (bare !== path && match(bare)) {
    res.writeHead(308, { location: `${bare}${(req.url ?? "").slice(path.length)}`, "cache-control": "no-store" }).end();
    return;
  }
  const found = match(path);
  if (!found) return send(req, res, errorResponse(new NotFoundError("This API endpoint")));
  const { route, params } = found;
  if (method === "OPTIONS") {
    res.writeHead(204, { allow: route.allow, "cache-control": "no-store" }).end();
    return;
  }
  const handler = route.handlers.get(method === "HEAD" ? "GET" : method);
  if (!handler) return send(req, res, methodNotAllowed(route.allow));
  // The body is read here, bounded by the API's one limit, and handed over whole: the
  // handlers' own reading (lib/api/http.ts readText) then never waits on the network. It is
  // read before the caller is known, as a server action's is (docs/security.md).
  if (NO_BODY.has(method)) return run(req, res, handler, params, null);
  return new Promise<void>((resolve, reject) => {
    readBody(req, res, MAX_BODY_BYTES, BODY_TOO_LARGE, (body) => run(req, res, handler, params, body).then(resolve, reject));
  });
}

async function run(req: IncomingMessage, res: ServerResponse, handler: Handler, params: Record<string, string>, body: Buffer | null): Promise<void> {
  const method = req.method ?? "GET";
  let request: Request;
  try {
    // A fixed origin: the handlers read the path and the query, and take origins from the
    // headers (lib/auth/origin.ts), so a Host header never shapes what they see.
    request = new Request(`http://localhost${req.url ?? "/"}`, { method, headers: headersOf(req), body: body && new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.length) });
  } catch {
    return send(req, res, errorResponse(new ValidationError("The request's URL or headers could not be read")));
  }
  let response: Response;
  try {
    // The params' type is each handler's own; the table holds them all.
    response = await handler(request, { params: Promise.resolve(params) as Promise<never> });
  } catch (e) {
    response = internalError(request, e);
  }
  return send(req, res, response);
}

/** The request's headers as Node parsed them, with the client's address already settled (server.ts). */
function headersOf(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === "string") headers.set(name, value);
    else if (value) for (const v of value) headers.append(name, v);
  }
  return headers;
}
