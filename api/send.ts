import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { faultResponse } from "@/lib/api/http";
import { compressing, compressWhole, encodingFor, WHOLE_FROM } from "./encoding";

/**
 * Writes a Web Response to Node's. Its first pieces are read before the status goes: a body
 * that comes whole (one piece) says its length, and one that fails that early is answered
 * 500 instead. A longer body is written as it comes, waiting when the client reads slower; a
 * failure later is logged and its connection cut, and a client that leaves stops its source.
 * The body is compressed for a client that accepts it (api/encoding.ts): a streamed one
 * always, a whole one from a kilobyte on, before any of its headers is set. HEAD gets GET's
 * status and headers and no body; the length of an answer GET would compress goes unsaid.
 */
export async function send(req: IncomingMessage, res: ServerResponse, response: Response): Promise<void> {
  const method = req.method ?? "GET";
  const reader = response.body?.getReader();
  let first: ReadableStreamReadResult<Uint8Array> = { done: true, value: undefined };
  let second: ReadableStreamReadResult<Uint8Array> = first;
  if (reader && !res.headersSent && !res.destroyed) {
    try {
      first = await reader.read();
      second = first.done ? first : await reader.read();
    } catch (e) {
      console.error("An API answer failed before it was sent", e);
      return send(req, res, faultResponse());
    }
  }
  // A body over the limit was already answered (readBody); a client may have gone meanwhile.
  if (res.headersSent || res.destroyed) {
    await reader?.cancel().catch(() => undefined);
    return;
  }
  const streamed = !!reader && !second.done;
  let body = second.done ? first.value : undefined;
  const compression = encodingFor(req, response.headers);
  const encoding = compression?.encoding && (streamed || (body?.byteLength ?? 0) >= WHOLE_FROM) ? compression.encoding : null;
  if (encoding && body && method !== "HEAD") {
    try {
      body = await compressWhole(body, encoding);
    } catch (e) {
      console.error("An API answer could not be compressed", e);
      return send(req, res, faultResponse());
    }
  }
  // What the server set before the answer (its security headers: lib/server/request-guard.ts).
  const before = res.getHeaders();
  try {
    res.statusCode = response.status;
    for (const [name, value] of response.headers) if (name !== "set-cookie") res.setHeader(name, value);
    const cookies = response.headers.getSetCookie();
    if (cookies.length) res.setHeader("set-cookie", cookies);
    if (compression) res.setHeader("vary", compression.vary);
    if (encoding) {
      res.setHeader("content-encoding", encoding);
      res.removeHeader("content-length");
    }
  } catch (e) {
    // A value the Fetch API lets through and Node refuses (a control character): nothing of
    // this answer's is sent, not even its headers set before that one; the server's stay.
    console.error("An API answer's headers could not be sent", e);
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    for (const [name, value] of Object.entries(before)) if (value !== undefined) res.setHeader(name, value);
    await reader?.cancel().catch(() => undefined);
    return send(req, res, faultResponse());
  }
  if (!streamed || method === "HEAD") {
    if (reader && second.done && !(encoding && method === "HEAD")) res.setHeader("content-length", body?.byteLength ?? 0);
    if (!second.done) await reader?.cancel().catch(() => undefined);
    // Node sends no body with a HEAD answer.
    res.end(body);
    return;
  }
  res.once("close", () => void reader.cancel().catch(() => undefined));
  async function* rest() {
    yield first.value!;
    yield second.value!;
    for (let next = await reader!.read(); !next.done; next = await reader!.read()) yield next.value;
  }
  try {
    if (encoding) await pipeline(rest, compressing(encoding), res);
    else await pipeline(rest, res);
  } catch (e) {
    if (!res.destroyed || (e as { code?: string }).code !== "ERR_STREAM_PREMATURE_CLOSE") console.error("An API answer failed midway; its connection was cut", e);
    res.destroy();
  }
}
