// Live patches under load (lib/live/coalescer.ts, namespace.ts) against the real server:
// wide fan-outs worked by real agent connections and cancels make hundreds of transitions a
// second; a watching browser must get a few messages a second, each row's last state right.
// Prints the figures (messages, rows, bytes) a browser receives.
import { afterAll, beforeAll, expect, test } from "vitest";
import { LIVE_INTERVAL_MS, LIVE_MAX_ROWS, type LiveFanout } from "../../lib/live/protocol";
import { FINAL_STATUSES, type TaskStatus } from "../../rules/tasks";
import { apiClient, type Issued, type TaskItem, type TaskPage } from "../support/api";
import { AgentFleet, BULK_USER, closeSocketsAfterEach, GLOBEX_USER, LiveClient, liveSeed, patchRate, until, type LiveSeed, type Received } from "../support/live";
import { signIn, startTestServer, type TestServer } from "../support/server";

let server: TestServer;
const seed: Partial<LiveSeed> = {};
const api = apiClient(() => server.url);
const cookies = { admin: "", gina: "", bob: "" };

beforeAll(async () => {
  server = await startTestServer({ seed: liveSeed(seed, { bulkDevices: 1000 }) });
  cookies.admin = await signIn(server.url, "admin@taskwire.local");
  cookies.gina = await signIn(server.url, GLOBEX_USER);
  cookies.bob = await signIn(server.url, BULK_USER);
});
afterAll(async () => {
  await server?.stop();
});
closeSocketsAfterEach();

const isFinal = (s: string | undefined) => (FINAL_STATUSES as readonly string[]).includes(s ?? "");

/** Runs `fn` over `items`, `width` at a time. */
async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}

/** Every task of a fan-out, read through the API (the truth a catch-up re-read would show). */
async function fanoutTasks(org: "acme" | "bulk", fanout: string): Promise<TaskItem[]> {
  const out: TaskItem[] = [];
  for (let page = 1; ; page++) {
    const r = await api.get<TaskPage>(`/tasks?fanout=${fanout}&per_page=100&page=${page}`, { as: { token: seed.tokens![org] } });
    expect(r.status).toBe(200);
    out.push(...r.body.items);
    if (page >= r.body.pages) return out;
  }
}

/** The newest summary of one fan-out among the patches received. */
const lastSummary = (received: Received[], code: string): LiveFanout | undefined =>
  received.flatMap((r) => r.patch.fanouts).filter((f) => f.code === code).at(-1);

/** Messages at most one per interval: by count over the span, and by the server's send times. */
function expectCoalesced(received: Received[]) {
  const rate = patchRate(received);
  expect(rate.count).toBeLessThanOrEqual(Math.floor(rate.spanMs / LIVE_INTERVAL_MS) + 1);
  // By the time each left (its reads may have started earlier: `at`).
  if (rate.minGapMs !== null) expect(rate.minGapMs).toBeGreaterThanOrEqual(LIVE_INTERVAL_MS);
  return rate;
}

test("a 250-device fan-out worked by agents and cancels: a few patches a second, every row's last state right", async () => {
  const acmeAgents = seed.agents!.acme;
  expect(acmeAgents).toHaveLength(250);
  // 200 devices have an agent that accepts at once and completes within 2 s; 50 stay
  // offline and get cancelled meanwhile: a sustained stream, not one burst.
  const online = acmeAgents.slice(0, 200);
  const fleet = await AgentFleet.connect(server.url, online, { workMs: (i) => (i % 20) * 100 });
  const watcher = await LiveClient.as(server.url, cookies.admin);
  const other = await LiveClient.as(server.url, cookies.gina);
  expect(await watcher.watch({ org: true })).toEqual({ ok: true });
  expect(await other.watch({ org: true })).toEqual({ ok: true });
  const from = watcher.received.length;

  const started = Date.now();
  const issued = await api.post<Issued>("/tasks", { as: { token: seed.tokens!.acme }, json: { type: "SYNC", targets: { all: true } } });
  expect(issued.status, JSON.stringify(issued.body)).toBe(201);
  expect(issued.body.total).toBe(250);
  const fanout = issued.body.fanout;
  const codes = issued.body.tasks.map((t) => t.code);
  const onlineNames = new Set(online.map((a) => a.name));
  const offline = issued.body.tasks.filter((t) => !onlineNames.has(t.device));
  expect(offline).toHaveLength(50);
  await inParallel(offline, 8, async (t) => {
    const r = await api.put(`/tasks/${t.code}/cancel`, { as: { token: seed.tokens!.acme } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  });

  await until(
    "every task of the fan-out to arrive final",
    () => {
      const latest = watcher.latest();
      return codes.every((c) => isFinal(latest.get(c)?.status));
    },
    30_000,
  );
  const elapsed = Date.now() - started;

  // The last state of every row is the API's.
  const latest = watcher.latest();
  const truth = await fanoutTasks("acme", fanout);
  expect(truth).toHaveLength(250);
  for (const t of truth) expect(latest.get(t.code), t.code).toMatchObject({ status: t.status, updatedAt: t.updated_at, message: t.message });
  const byStatus = (s: TaskStatus) => truth.filter((t) => t.status === s).length;
  expect({ completed: byStatus("COMPLETED"), cancelled: byStatus("CANCELLED") }).toEqual({ completed: 200, cancelled: 50 });
  expect(fleet.results.filter((r) => codes.includes(r.code) && !(r.ack as { ok?: boolean })?.ok)).toEqual([]);

  // So does the fan-out's progress.
  await until("the fan-out's final summary", () => lastSummary(watcher.received, fanout)?.counts.CANCELLED === 50 && lastSummary(watcher.received, fanout)?.counts.COMPLETED === 200);
  expect(lastSummary(watcher.received, fanout)).toMatchObject({ total: 250, counts: { COMPLETED: 200, CANCELLED: 50, PENDING: 0, IN_PROGRESS: 0 } });

  // 250 created + 200 accepted + 200 completed + 50 cancelled transitions, in far fewer messages.
  const received = watcher.received.slice(from);
  expect(received.every((r) => !r.patch.truncated)).toBe(true);
  const rate = expectCoalesced(received);
  expect(rate.count).toBeLessThan(700 / 10);
  // Another organization's watcher saw none of it.
  expect(other.rows().filter((r) => codes.includes(r.code))).toEqual([]);
  expect(new Set(other.rows().map((r) => r.organization))).toEqual(new Set(other.rows().length ? ["Globex"] : []));

  console.log(
    `[live] 250-task fan-out, 700 transitions in ${elapsed} ms: ${rate.count} patches over ${rate.spanMs} ms (min gap ${rate.minGapMs} ms), ${rate.rows} rows, ${(rate.bytes / 1024).toFixed(0)} KiB`,
  );
  fleet.close();
}, 90_000);

test("a 1,000-task fan-out completed by 1,000 agents: what one browser receives", async () => {
  const bulkAgents = seed.agents!.bulk;
  expect(bulkAgents).toHaveLength(1000);
  // Each agent works 0–3 s: results keep coming for a few seconds, as from a real fleet.
  const fleet = await AgentFleet.connect(server.url, bulkAgents, { workMs: (i) => (i % 30) * 100 });
  const watcher = await LiveClient.as(server.url, cookies.bob);
  const acme = await LiveClient.as(server.url, cookies.admin);
  expect(await watcher.watch({ org: true })).toEqual({ ok: true });
  expect(await acme.watch({ org: true })).toEqual({ ok: true });

  const started = Date.now();
  const issued = await api.post<Issued>("/tasks", { as: { token: seed.tokens!.bulk }, json: { type: "PING", payload: { host: "1.1.1.1" }, targets: { all: true } } });
  expect(issued.status, JSON.stringify(issued.body)).toBe(201);
  expect(issued.body.total).toBe(1000);
  const fanout = issued.body.fanout;

  await until("the fan-out to complete in the patches", () => lastSummary(watcher.received, fanout)?.counts.COMPLETED === 1000, 60_000);
  const elapsed = Date.now() - started;
  const truth = await api.get<TaskPage>(`/tasks?fanout=${fanout}&status=COMPLETED&per_page=1`, { as: { token: seed.tokens!.bulk } });
  expect(truth.body.total).toBe(1000);

  const received = watcher.received;
  const rate = expectCoalesced(received);
  // More changes than fit in one message: the message says so, and carries the newest.
  const truncated = received.filter((r) => r.patch.truncated);
  for (const r of truncated) expect(r.patch.tasks).toHaveLength(LIVE_MAX_ROWS);
  // A truncated message makes the page re-read; no row that did travel is from the future,
  // and those whose last change came in a whole message are exactly the API's.
  const latest = watcher.latest();
  const all = await fanoutTasks("bulk", fanout);
  let exact = 0;
  for (const t of all) {
    const row = latest.get(t.code);
    if (row) expect(row.updatedAt <= t.updated_at).toBe(true);
    if (row?.updatedAt === t.updated_at) exact++;
  }
  // The last whole message's rows are the API's, unless a truncated one came after it: that
  // one made the page re-read, and the re-read (the API's rows, `all`) is then the last word.
  const lastWhole = received.findLastIndex((r) => !r.patch.truncated);
  const rereadAfter = received.slice(lastWhole + 1).some((r) => r.patch.truncated);
  if (!rereadAfter) for (const row of received[lastWhole].patch.tasks) expect(all.find((t) => t.code === row.code)).toMatchObject({ status: row.status, updated_at: row.updatedAt });
  expect(acme.rows().filter((r) => r.organization !== "Acme Corp")).toEqual([]);

  console.log(
    `[live] 1,000-task fan-out (3,000 transitions) completed in ${elapsed} ms; one browser received ${rate.count} patches over ${rate.spanMs} ms ` +
      `(min gap ${rate.minGapMs} ms; ${truncated.length} truncated), ${rate.rows} rows, ${(rate.bytes / 1024).toFixed(0)} KiB; ${exact}/1000 rows final from the stream alone`,
  );
  fleet.close();
}, 120_000);
