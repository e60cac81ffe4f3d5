import { randomBytes } from "node:crypto";
import { IncomingMessage, type ServerResponse } from "node:http";
import { allowedOrigins, isSameOrigin, requestOrigin } from "../auth/origin";
import { ACTION_BODY_LIMIT_BYTES } from "./action-limit.mjs";

// What every request meets before Next sees it: the security headers of every answer, and
// for server actions the same-site rule, the body limit and a readable body. Next answers
// a foreign Origin, an oversized body or an undecodable one with a 500; here they get a
// 403, a 413 or a 400. What the arguments mean is each action's own check (app/_lib/form.ts).

/** How much of a refused body is read and dropped before the connection is cut instead. */
const DRAIN_LIMIT_BYTES = 16 * ACTION_BODY_LIMIT_BYTES;

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Answers a request itself (a refusal) or hands it, perhaps re-read, to `next` with its URL's path. */
export function guardRequest(req: IncomingMessage, res: ServerResponse, next: (req: IncomingMessage, path: string) => void): void {
  const path = (req.url ?? "/").split("?")[0];
  setSecurityHeaders(req, res, path);
  if (!isActionRequest(req, path)) return next(req, path);

  if (!isSameOrigin(req.headers.origin, req.headers)) {
    return refuse(req, res, 403, "forbidden", "This request did not come from this site");
  }
  readBody(req, res, ACTION_BODY_LIMIT_BYTES, `A form is at most ${ACTION_BODY_LIMIT_BYTES / 1024 / 1024} MB`, (body) => {
    void unreadable(req, body).then(
      (problem) => (problem ? refuse(req, res, 400, "invalid", problem) : next(replay(req, body), path)),
      () => refuse(req, res, 400, "invalid", UNREADABLE),
    );
  });
}

/**
 * Reads a request's body, at most `limit` bytes, and hands it to `then`; a larger one is
 * answered 413 with `tooLarge` as its message. Node reads no more than a declared length, so
 * a declaration over the limit is refused before reading anything; a streamed body is
 * counted as it comes.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, limit: number, tooLarge: string, then: (body: Buffer) => void): void {
  if (Number(req.headers["content-length"] ?? 0) > limit) return refuse(req, res, 413, "too_large", tooLarge);
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  req.on("data", (chunk: Buffer) => {
    if (refused) return;
    size += chunk.length;
    if (size > limit) {
      refused = true;
      chunks.length = 0;
      return refuse(req, res, 413, "too_large", tooLarge);
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (!refused) then(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
}

/**
 * Server actions are POSTs carrying a `next-action` header (fetch) or a form posted to a
 * page (no JavaScript). Pages answer nothing but GET otherwise; the JSON API and auth
 * routes under /api check their callers themselves.
 */
function isActionRequest(req: IncomingMessage, path: string): boolean {
  if (req.headers["next-action"] !== undefined) return true;
  return !SAFE_METHODS.has(req.method ?? "GET") && !path.startsWith("/api/");
}

const UNREADABLE = "The action's arguments could not be read";

// React's reply encoding: a string "$" followed by one of these points at another row of a
// multipart reply (a promise, a map, a blob, an outlined object…). A text reply is a single
// row, so such a string there points at nothing and React would fail on it.
const ROW_REFERENCE = /^\$[0-9a-f@hQWKiBAOoUSsLlGgMmVRrXxF]/;

/**
 * Why the body cannot be an action's arguments as React encodes them, or null. A text body
 * is one JSON row holding the argument list; a multipart one keeps that row in field "0".
 */
async function unreadable(req: IncomingMessage, body: Buffer): Promise<string | null> {
  const type = req.headers["content-type"] ?? "";
  const fetchAction = req.headers["next-action"] !== undefined;
  if (/^multipart\/form-data/i.test(type)) {
    let form: FormData;
    try {
      form = await new Request("http://body.invalid/", { method: "POST", headers: { "content-type": type }, body: new Uint8Array(body) }).formData();
    } catch {
      return "The form could not be read";
    }
    if (!fetchAction) return null;
    const root = form.get("0");
    return typeof root === "string" && argumentList(root) ? null : UNREADABLE;
  }
  // A post without the header and without a form is no action: Next renders the page.
  if (!fetchAction) return null;
  const list = argumentList(body.toString("utf8"));
  return list && !references(list) ? null : UNREADABLE;
}

function argumentList(text: string): unknown[] | null {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

function references(value: unknown): boolean {
  if (typeof value === "string") return ROW_REFERENCE.test(value);
  if (Array.isArray(value)) return value.some(references);
  if (value && typeof value === "object") return Object.values(value).some(references);
  return false;
}

function setSecurityHeaders(req: IncomingMessage, res: ServerResponse, path: string) {
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "same-origin");
  res.setHeader("X-Frame-Options", "DENY");
  // Hashed, immutable build files carry no policy of their own: they run under the page's.
  if (path.startsWith("/_next/static/")) return;
  if (path.startsWith("/api/")) {
    res.setHeader("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    return;
  }
  const nonce = randomBytes(16).toString("base64");
  const policy = pagePolicy(req, nonce);
  // Next reads the nonce from the request's policy and puts it on the scripts it renders.
  req.headers["content-security-policy"] = policy;
  res.setHeader("Content-Security-Policy", policy);
}

function pagePolicy(req: IncomingMessage, nonce: string): string {
  // Development builds evaluate code and inject styles for hot reload; production does neither.
  const dev = process.env.NODE_ENV !== "production";
  // 'self' covers a same-origin websocket in current browsers; the explicit ws(s): origins
  // are for those that still read 'self' as http(s) only.
  // The Host header ends up in the policy: only a plain origin is written there.
  const sockets = allowedOrigins(req.headers)
    .filter((o) => /^https?:\/\/[\w.\-[\]:]+$/.test(o))
    .map((o) => o.replace(/^http/, "ws"));
  const secure = requestOrigin(req.headers)?.startsWith("https:") ?? false;
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ""}`,
    `style-src 'self' ${dev ? "'unsafe-inline'" : `'nonce-${nonce}'`}`,
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ${sockets.join(" ")}`.trim(),
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    ...(secure ? ["upgrade-insecure-requests"] : []),
  ].join("; ");
}

/** Answers with the JSON API's error shape, and reads and drops what is left of the body. */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string) {
  if (res.headersSent) return;
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(body);
  // What is left of the body is read and dropped: closing on a client still sending makes it
  // see a reset instead of this answer. A body that goes on and on loses its connection.
  let left = DRAIN_LIMIT_BYTES;
  req.on("data", (chunk: Buffer) => {
    left -= chunk.length;
    if (left < 0) req.socket.destroy();
  });
  req.resume();
}

/** The same request with its body already read: Next parses it as if it came off the wire. */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const copy = new IncomingMessage(req.socket);
  copy.method = req.method;
  copy.url = req.url;
  copy.httpVersion = req.httpVersion;
  copy.httpVersionMajor = req.httpVersionMajor;
  copy.httpVersionMinor = req.httpVersionMinor;
  copy.headers = { ...req.headers, "content-length": String(body.length) };
  delete copy.headers["transfer-encoding"];
  const raw: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (name !== "transfer-encoding" && name !== "content-length") raw.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  copy.rawHeaders = [...raw, "Content-Length", String(body.length)];
  // Complete: otherwise the stream's end reads as an aborted request and closes the socket.
  copy.complete = true;
  copy.push(body);
  copy.push(null);
  return copy;
}
