import type { z } from "zod";
import { databaseTrouble, getDb, type Db } from "@/db/client";
import type { Actor } from "@/lib/actor";
import { isSameOrigin } from "@/lib/auth/origin";
import { DomainError, ForbiddenError, isDomainError, RateLimitedError, TooLargeError, UNAVAILABLE_MESSAGES, UnavailableError, ValidationError, type ErrorCode, type FieldErrors } from "@/lib/errors";
import { resolveApiActor } from "@/lib/orgs/session";
import { jsonResponse } from "./json-body";
import { fieldErrorsOf, FieldValidationError, headline, problemOf, refuseUnstorable } from "@/lib/validation";

// The JSON API's one adapter: every route under api/v1 is `apiRoute(handler)`. It
// resolves the caller, runs the handler, and turns what the domain throws into a status
// from the one table below. Unknown errors are logged here and answered generically: no
// stack trace or SQL text ever reaches a client.

/** Bodies above this are refused before they are parsed. */
export const MAX_BODY_BYTES = 256 * 1024;
/** What a body above MAX_BODY_BYTES is told (413 `too_large`). */
export const BODY_TOO_LARGE = `The request body is larger than ${MAX_BODY_BYTES / 1024} KiB`;

const STATUS: Record<ErrorCode, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
};

/** Seconds a client is told to wait after a 503: a lock is usually gone within one. */
const RETRY_AFTER_BUSY_SECONDS = 1;

export type ApiErrorBody = {
  error: { code: ErrorCode | "internal" | "method_not_allowed"; message: string; fields?: FieldErrors; details?: Record<string, unknown> };
};

/** A handler's answer with a status other than 200, or with headers of its own. */
class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}
export const created = (body: unknown) => new Reply(201, body);
export const reply = (status: number, body: unknown, headers?: Record<string, string>) => new Reply(status, body, headers);

const HEADERS = { "cache-control": "no-store" };

function json(body: unknown, status: number, headers?: Record<string, string>): Response {
  return jsonResponse(body, { status, headers: { ...HEADERS, ...headers } });
}

// The API speaks snake_case; the domain's errors name their fields in camelCase
// (`scheduledAt`). Only the first path segment is renamed: `payload.targetVersion` is a key
// of the payload itself.
const snake = (key: string) => key.replace(/^[^.]+/, (head) => head.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));

export function errorResponse(e: DomainError): Response {
  let message = e.message;
  let fields = e.fieldErrors;
  if (fields) {
    // Fields the API parsed itself already carry the client's names, as do keys nobody knows.
    const asSent = e instanceof FieldValidationError ? (e.clientNames ? null : new Set(e.problem.unknown)) : new Set<string>();
    const rename = (key: string) => (!asSent || asSent.has(key) ? key : snake(key));
    // Bad input names its first field in the message, by the name this client knows it by.
    if (e instanceof FieldValidationError) message = headline(e.problem, rename);
    fields = Object.fromEntries(Object.entries(fields).map(([key, errors]) => [rename(key), errors]));
  }
  const body: ApiErrorBody = { error: { code: e.code, message, ...(fields ? { fields } : {}), ...(e.details ? { details: e.details } : {}) } };
  const res = json(body, STATUS[e.code]);
  if (e instanceof RateLimitedError) res.headers.set("retry-after", String(e.retryAfterSeconds));
  if (e.code === "unavailable") res.headers.set("retry-after", String(RETRY_AFTER_BUSY_SECONDS));
  return res;
}

/** A fault's answer: logged here, a 500 with no detail to the client. */
export function internalError(req: Request, e: unknown): Response {
  console.error(`API ${req.method} ${new URL(req.url).pathname} failed`, e);
  return faultResponse();
}

/** The 500 a fault is answered with: nothing of it reaches the client. */
export function faultResponse(): Response {
  const body: ApiErrorBody = { error: { code: "internal", message: "Something went wrong on the server" } };
  return json(body, 500);
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * A write carried by the session cookie must come from this site: the cookie is SameSite=Lax,
 * and this refuses what slips past that (a sibling subdomain, another port or scheme). A
 * present Origin, "null" included, must name this site exactly (lib/auth/origin.ts).
 * Clients that send no Origin at all (curl, scripts) are not browsers: a browser always
 * sends one on a cross-site POST, PUT or DELETE.
 */
function sameOrigin(req: Request): boolean {
  const origin = req.headers.get("origin");
  return origin === null || isSameOrigin(origin, req.headers);
}

export type ApiContext<P> = { req: Request; db: Db; actor: Actor; params: P };
export type PublicContext<P> = Omit<ApiContext<P>, "actor">;

/**
 * A route that authenticates its callers itself (agent enrollment, the server's public
 * key): the same error mapping as apiRoute, without a session or token. The handler may
 * throw or return a promise that rejects: both are answered here.
 */
export function publicRoute<P = Record<string, never>>(handler: (ctx: PublicContext<P>) => unknown) {
  return async (req: Request, route?: { params: Promise<P> }): Promise<Response> => {
    try {
      const params = ((await route?.params) ?? {}) as P;
      const result = await handler({ req, db: getDb(), params });
      // A handler that writes its own body (a streamed download) returns the Response itself.
      if (result instanceof Response) return result;
      return result instanceof Reply ? json(result.body, result.status, result.headers) : json(result, 200);
    } catch (e) {
      if (isDomainError(e)) return errorResponse(e);
      // Another connection held the write lock past the short busy timeout, or the database
      // cannot be reached (db/client.ts): the transaction was rolled back, and the same
      // request may be sent again.
      const trouble = databaseTrouble(e);
      if (trouble) return errorResponse(new UnavailableError(UNAVAILABLE_MESSAGES[trouble]));
      return internalError(req, e);
    }
  };
}

/**
 * Wraps a route handler: no caller → 401; a domain error → its status; anything else →
 * 500 with a generic message, logged here. The handler returns the body (200) or `created(body)`.
 */
export function apiRoute<P = Record<string, never>>(handler: (ctx: ApiContext<P>) => unknown) {
  return publicRoute<P>(async (ctx) => {
    const actor = await resolveApiActor({ db: ctx.db }, ctx.req.headers);
    if (!actor) {
      throw new DomainError("unauthorized", "Sign in, or send Authorization: Bearer <api token>");
    }
    if (!ctx.req.headers.has("authorization") && UNSAFE.has(ctx.req.method) && !sameOrigin(ctx.req)) {
      throw new ForbiddenError("Cross-origin requests with the session cookie are refused");
    }
    return handler({ ...ctx, actor });
  });
}

/** The 405 of a route whose `Allow` is `allow`: what it serves, as OPTIONS names it (api/router.ts). */
export function methodNotAllowed(allow: string): Response {
  return Response.json({ error: { code: "method_not_allowed", message: `This endpoint accepts ${allow}` } }, { status: 405, headers: { ...HEADERS, allow } });
}

/** The JSON body of a request, at most MAX_BODY_BYTES (above: 413); malformed or missing → 400. */
export async function readJson(req: Request): Promise<unknown> {
  return parseJson(await readText(req));
}

/** A request body already read as text, parsed as JSON; malformed or empty → 400. */
export function parseJson(text: string): unknown {
  if (!text.trim()) throw new ValidationError("A JSON body is required");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError("The request body is not valid JSON");
  }
}

/** The body of a request as UTF-8 text, at most MAX_BODY_BYTES (above: 413 `too_large`; an empty body is ""). */
export async function readText(req: Request): Promise<string> {
  const tooLarge = () => new TooLargeError(BODY_TOO_LARGE);
  const declared = Number(req.headers.get("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    // Counted while streaming: a chunked body declares no length.
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel();
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new ValidationError("The request body is not valid UTF-8");
  }
}

/**
 * Parses input with zod like lib/validation's parse, its fields named as the client sent them
 * (no renaming to the API's snake_case: they already are).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  refuseUnstorable(input, true);
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  // Field names here are the client's own keys ("__proto__" among them): the mapper gathers
  // them without touching any prototype.
  throw new FieldValidationError(problemOf(result.error), true);
}

/**
 * Query parameters as an object for a zod schema: empty values count as absent, and a
 * parameter the schema does not know, or one given twice, is a 400 naming it.
 */
export function parseQuery<S extends z.ZodObject>(schema: S, params: URLSearchParams): z.output<S> {
  // Maps, not objects: a parameter named __proto__ must be a parameter like any other.
  const input = new Map<string, string>();
  const problems = new Map<string, string>();
  for (const [key, value] of params) {
    if (!Object.hasOwn(schema.shape, key)) problems.set(key, "Unknown query parameter");
    else if (input.has(key)) problems.set(key, "Given more than once");
    else if (value !== "") input.set(key, value);
  }
  if (problems.size) {
    const fieldErrors = fieldErrorsOf(problems);
    throw new FieldValidationError({ message: Object.values(fieldErrors)[0][0], fieldErrors }, true);
  }
  return parseInput(schema, Object.fromEntries(input));
}
