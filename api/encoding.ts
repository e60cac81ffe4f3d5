import type { IncomingMessage } from "node:http";
import { promisify } from "node:util";
import zlib from "node:zlib";
import compressible from "compressible";
import Negotiator from "negotiator";
import vary from "vary";

// How the API's answers are compressed (api/send.ts sends them): Brotli (quality 4: most of
// its gain at a fraction of its default's time), gzip or deflate, as the client prefers,
// Brotli or gzip when it names them alike — the choices the `compression` middleware made,
// which this replaces. It streamed every answer through zlib's threads, and each of their
// answers waits for a turn of the event loop, behind whatever else runs then: a fan-out's
// answer of 1,000 tasks (99 KB, half a millisecond of gzip's work) left 15–37 ms after it was
// written, while the fan-out's own dispatch held the loop (docs/performance.md, "Answers
// compressed on the loop, and the storm's POST measured at rest").

export type Encoding = "br" | "gzip" | "deflate";

/** A whole answer smaller than this goes as it is: zlib's work would cost more than the bytes saved. */
export const WHOLE_FROM = 1024;

/**
 * A whole answer up to this size is compressed on the loop's thread, at once: about 1.5–2 ms
 * of zlib's work at most here (5–8 ms a megabyte, gzip the faster), where a trip to zlib's
 * threads waits for a turn of a busy loop. A task list's page of 100 and a fan-out's answer of
 * 2,000 tasks fit. A larger one goes to zlib's threads.
 */
export const AT_ONCE_MAX = 256 * 1024;

const BROTLI: zlib.BrotliOptions = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } };

/** Each encoding's zlib: at once, on zlib's threads, and as a stream. */
const ZLIB: Record<Encoding, { atOnce: (body: Uint8Array) => Buffer; onThreads: (body: Uint8Array) => Promise<Buffer>; stream: () => NodeJS.ReadWriteStream }> = {
  br: { atOnce: (body) => zlib.brotliCompressSync(body, BROTLI), onThreads: (body) => promisify(zlib.brotliCompress)(body, BROTLI), stream: () => zlib.createBrotliCompress(BROTLI) },
  gzip: { atOnce: (body) => zlib.gzipSync(body), onThreads: (body) => promisify(zlib.gzip)(body), stream: () => zlib.createGzip() },
  deflate: { atOnce: (body) => zlib.deflateSync(body), onThreads: (body) => promisify(zlib.deflate)(body), stream: () => zlib.createDeflate() },
};

/** A whole answer, compressed: at once up to AT_ONCE_MAX, else on zlib's threads. */
export function compressWhole(body: Uint8Array, encoding: Encoding): Buffer | Promise<Buffer> {
  return body.byteLength <= AT_ONCE_MAX ? ZLIB[encoding].atOnce(body) : ZLIB[encoding].onThreads(body);
}

/** A stream that compresses a streamed answer as it goes. */
export const compressing = (encoding: Encoding): NodeJS.ReadWriteStream => ZLIB[encoding].stream();

// negotiator takes the encodings preferred when the client names several alike since 0.6.4;
// its types predate that.
const negotiate = Negotiator.prototype.encoding as unknown as (this: Negotiator, available: readonly string[], preferred: readonly string[]) => string | undefined;

/**
 * How an answer with these headers goes to the client that asked: null when it is not ours to
 * compress (its type does not compress — text and JSON do —, it says `no-transform`, or it
 * is encoded already); else its `Vary` with Accept-Encoding added, whatever is chosen, and the
 * encoding: null when the client sent no Accept-Encoding (the answer then goes as it is) or
 * accepts none of ours.
 */
export function encodingFor(req: Pick<IncomingMessage, "headers">, headers: Headers): { vary: string; encoding: Encoding | null } | null {
  const type = headers.get("content-type");
  if (!type || !compressible(type)) return null;
  if (/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(headers.get("cache-control") ?? "")) return null;
  if ((headers.get("content-encoding") ?? "identity") !== "identity") return null;
  const varies = vary.append(headers.get("vary") ?? "", "Accept-Encoding");
  if (!req.headers["accept-encoding"]) return { vary: varies, encoding: null };
  const chosen = negotiate.call(new Negotiator(req), ["br", "gzip", "deflate", "identity"], ["br", "gzip"]);
  return { vary: varies, encoding: chosen === "br" || chosen === "gzip" || chosen === "deflate" ? chosen : null };
}
