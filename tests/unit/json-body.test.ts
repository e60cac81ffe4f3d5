import { describe, expect, test } from "vitest";
import { jsonResponse } from "../../lib/api/json-body";

const init = { status: 201, headers: { "cache-control": "no-store" } };

describe("jsonResponse", () => {
  test("a body with a long array is streamed, byte for byte what JSON.stringify writes", async () => {
    const body = {
      fanout: "AB12CD34",
      total: 2_501,
      skipped: undefined,
      tasks: Array.from({ length: 2_501 }, (_, i) => ({ code: `T${i}`, device: `fw-"${i}"\n`, status: "PENDING", expires_at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)), gone: undefined })),
      nested: { lists: [Array.from({ length: 1_200 }, (_, i) => i), [null, undefined, () => 1]] },
    };
    const res = jsonResponse(body, init);
    expect(res.body).not.toBeNull();
    expect(res.status).toBe(201);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const text = await res.text();
    expect(text).toBe(JSON.stringify(body));
    expect(JSON.parse(text).tasks).toHaveLength(2_501);
  });

  test("between slices of a long array the event loop turns", async () => {
    // Something else waiting for the loop, one turn at a time.
    let turns = 0;
    let waiting = true;
    const other = () => {
      if (!waiting) return;
      turns++;
      setImmediate(other);
    };
    setImmediate(other);
    const text = await jsonResponse({ items: Array.from({ length: 20_000 }, (_, i) => ({ i })) }, init).text();
    waiting = false;
    expect(text.length).toBeGreaterThan(100_000);
    // 20 slices: the other work ran between them, not only after the last.
    expect(turns).toBeGreaterThanOrEqual(19);
  });

  test("a small body is one ordinary JSON answer", async () => {
    const res = jsonResponse({ error: { code: "invalid", message: "Nope" } }, { status: 400, headers: {} });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.json()).toEqual({ error: { code: "invalid", message: "Nope" } });
  });
});
