// How an API answer goes onto Node's response (api/send.ts), through a real HTTP server:
// what a client receives when an answer cannot be sent as it is, and a whole answer larger
// than what is compressed at once on the loop.
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { brotliDecompressSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AT_ONCE_MAX } from "../../api/encoding";
import { send } from "../../api/send";

let server: Server;
let answer: () => Response;
let port: number;

beforeAll(async () => {
  // As the server does before any answer (lib/server/request-guard.ts).
  server = createServer((req, res) => void send(req, res.setHeader("x-content-type-options", "nosniff"), answer()));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A GET as a client sends it; the body as it came over the wire, not decoded. */
function get(headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("send", () => {
  test("a header value Node refuses: a clean 500, with none of the answer's own headers and the server's kept", async () => {
    // The Fetch API takes a control character other than CR, LF and NUL; Node's response does
    // not. Headers are set in the order of their names: "a-first" goes before the refused one.
    answer = () => new Response("{}", { headers: { "content-type": "text/plain", "a-first": "set before", "content-disposition": "attachment; filename=\"a\u0001b\"" } });
    const res = await get();
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body.toString())).toEqual({ error: { code: "internal", message: "Something went wrong on the server" } });
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.headers["a-first"]).toBeUndefined();
    expect(res.headers["content-disposition"]).toBeUndefined();
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
  });

  test("a body that fails before it is sent: a clean 500", async () => {
    answer = () =>
      new Response(
        new ReadableStream({
          pull: (c) => c.error(new Error("the source failed")),
        }),
        { headers: { "content-type": "application/json" } },
      );
    const res = await get();
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body.toString()).error.code).toBe("internal");
  });

  test("a whole answer over what is compressed at once goes compressed, with its compressed length", async () => {
    const rows = Array.from({ length: 8_000 }, (_, i) => ({ code: `T-${i.toString().padStart(6, "0")}`, status: i % 3 ? "COMPLETED" : "FAILED", message: `row ${i}` }));
    const text = JSON.stringify(rows);
    expect(Buffer.byteLength(text)).toBeGreaterThan(AT_ONCE_MAX);
    answer = () => new Response(text, { headers: { "content-type": "application/json" } });
    const res = await get({ "accept-encoding": "br" });
    expect(res.status).toBe(200);
    expect(res.headers["content-encoding"]).toBe("br");
    expect(res.headers.vary).toBe("Accept-Encoding");
    expect(Number(res.headers["content-length"])).toBe(res.body.length);
    expect(brotliDecompressSync(res.body).toString()).toBe(text);
  });
});
