import { breathe } from "@/db/transaction";

// A JSON answer is normally one JSON.stringify. A fan-out's answer lists every task it
// created: 100,000 of them are ~10 MB of JSON, ~200 ms of the event loop in one call. Such
// a body is written as a stream instead, its long arrays a slice at a time with a turn of
// the loop between slices; the bytes are the same as JSON.stringify's.

/** Array elements serialized per turn of the event loop (~2 ms of work). */
const ELEMENTS_PER_TURN = 1_000;

/** Whether the value holds an array longer than a slice, anywhere. */
function isLong(value: unknown, depth = 0): boolean {
  if (depth > 4 || value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.length > ELEMENTS_PER_TURN || value.some((v) => isLong(v, depth + 1));
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return false;
  return Object.values(value).some((v) => isLong(v, depth + 1));
}

async function* pieces(value: unknown): AsyncGenerator<string> {
  if (!isLong(value)) {
    yield JSON.stringify(value) ?? "null";
    return;
  }
  if (Array.isArray(value)) {
    yield "[";
    for (let i = 0; i < value.length; i += ELEMENTS_PER_TURN) {
      if (i > 0) {
        await breathe();
        yield ",";
      }
      // Elements as JSON.stringify writes them inside an array: undefined and functions as null.
      yield value
        .slice(i, i + ELEMENTS_PER_TURN)
        .map((v) => JSON.stringify(v) ?? "null")
        .join(",");
    }
    yield "]";
    return;
  }
  yield "{";
  let first = true;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
    yield `${first ? "" : ","}${JSON.stringify(key)}:`;
    first = false;
    yield* pieces(v);
  }
  yield "}";
}

/** A JSON response whose body never holds the event loop long, however many rows it lists. */
export function jsonResponse(body: unknown, init: { status: number; headers: Record<string, string> }): Response {
  if (!isLong(body)) return Response.json(body, init);
  const encoder = new TextEncoder();
  const source = pieces(body);
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await source.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
  });
  return new Response(stream, { status: init.status, headers: { "content-type": "application/json", ...init.headers } });
}
