// How the API's answers are compressed (api/encoding.ts): which encoding a client gets, which
// answers are left alone, and what each path of compressWhole gives back.
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { AT_ONCE_MAX, compressWhole, encodingFor, type Encoding } from "../../api/encoding";

// What encodingFor reads of a request: its headers.
const asking = (headers: Record<string, string>) => ({ headers });
const json = (more: Record<string, string> = {}) => new Headers({ "content-type": "application/json", ...more });
const DECODE: Record<Encoding, (b: Buffer) => Buffer> = { br: brotliDecompressSync, gzip: gunzipSync, deflate: inflateSync };

describe("encodingFor", () => {
  test("the client's preference, Brotli or gzip first when it names them alike", () => {
    for (const [accept, chosen] of [
      ["gzip, deflate, br", "br"],
      ["gzip;q=0.8, br;q=0.8", "br"],
      ["br;q=0.5, gzip", "gzip"],
      ["deflate", "deflate"],
      ["*", "br"],
      ["identity", null],
      ["compress", null],
      ["br;q=0, gzip;q=0, deflate;q=0", null],
    ] as const) {
      expect(encodingFor(asking({ "accept-encoding": accept }), json()), accept).toEqual({ vary: "Accept-Encoding", encoding: chosen });
    }
    // No Accept-Encoding: the answer goes as it is, and still varies by it.
    expect(encodingFor(asking({}), json())).toEqual({ vary: "Accept-Encoding", encoding: null });
  });

  test("an answer whose type does not compress, that says no-transform, or that is encoded already is left alone", () => {
    const br = asking({ "accept-encoding": "br" });
    expect(encodingFor(br, new Headers({ "content-type": "image/png" }))).toBeNull();
    expect(encodingFor(br, new Headers())).toBeNull();
    expect(encodingFor(br, json({ "cache-control": "private, no-transform" }))).toBeNull();
    expect(encodingFor(br, json({ "content-encoding": "gzip" }))).toBeNull();
    expect(encodingFor(br, new Headers({ "content-type": "text/csv; charset=utf-8" }))?.encoding).toBe("br");
  });

  test("Vary gains Accept-Encoding once, and stays * when it is *", () => {
    const br = asking({ "accept-encoding": "br" });
    expect(encodingFor(br, json({ vary: "Origin" }))?.vary).toBe("Origin, Accept-Encoding");
    expect(encodingFor(br, json({ vary: "accept-encoding" }))?.vary).toBe("accept-encoding");
    expect(encodingFor(br, json({ vary: "*" }))?.vary).toBe("*");
  });
});

describe("compressWhole", () => {
  // JSON that compresses as a real answer does: repeated keys, random codes.
  const answerOf = (bytes: number) => {
    const items: string[] = [];
    for (let size = 0, i = 0; size < bytes; i++) {
      const item = JSON.stringify({ code: Math.random().toString(36).slice(2, 10), device: `fw-${i}`, status: "PENDING" });
      items.push(item);
      size += item.length + 1;
    }
    return Buffer.from(`[${items.join(",")}]`);
  };

  test.each(["br", "gzip", "deflate"] as const)("%s: at once up to the limit, on zlib's threads above; both decode to the answer", async (encoding) => {
    const small = answerOf(AT_ONCE_MAX - 4096);
    const atOnce = compressWhole(small, encoding);
    expect(atOnce).toBeInstanceOf(Buffer);
    expect(DECODE[encoding](atOnce as Buffer).equals(small)).toBe(true);
    const large = answerOf(AT_ONCE_MAX + 4096);
    const onThreads = compressWhole(large, encoding);
    expect(onThreads).toBeInstanceOf(Promise);
    const out = await onThreads;
    expect(out.length).toBeLessThan(large.length);
    expect(DECODE[encoding](out).equals(large)).toBe(true);
  });
});
