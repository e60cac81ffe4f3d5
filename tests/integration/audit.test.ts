// The audit trail over HTTP: a write through the API leaves its row with the token and the
// client's address, the export streams JSON lines to ADMINs only, from a cursor, and an
// unknown action is refused naming the field.
import { describe, expect, test } from "vitest";
import { apiServerFixture, expectError } from "../support/api";

const ctx = apiServerFixture();

type Line = { id: number; at: string; actor: string | null; actor_label: string; action: string; target: { type: string; id: string; label: string } | null; detail: Record<string, unknown> | null; address: string | null };

async function exportLines(query: string, cookie: string): Promise<{ status: number; type: string | null; lines: Line[] }> {
  const res = await fetch(`${ctx.server.url}/api/v1/audit${query}`, { headers: { cookie } });
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type"), lines: res.ok ? text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Line) : [] };
}

describe("GET /api/v1/audit", () => {
  test("a schedule made with a token is one row naming the token and the address; the export is JSON lines, oldest first, from a cursor", async () => {
    const made = await ctx.api.post<{ id: number }>("/schedules", {
      as: ctx.token("acmeWrite"),
      json: { name: "audited nightly", type: "BACKUP", targets: { all: true }, cron: "0 2 * * *", timezone: "Europe/Berlin" },
    });
    expect(made.status).toBe(201);
    const all = await exportLines("?action=schedule.create", ctx.admin.cookie);
    expect(all.status).toBe(200);
    expect(all.type).toMatch(/^application\/x-ndjson/);
    const mine = all.lines.filter((l) => l.target?.label === "audited nightly");
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      action: "schedule.create",
      actor: expect.stringMatching(/^token:/),
      actor_label: "admin@taskwire.local (token acme ci)",
      target: { type: "schedule", id: String(made.body.id), label: "audited nightly" },
      address: expect.stringMatching(/127\.0\.0\.1$/),
    });
    // By group, oldest first; after the last id, nothing.
    const group = await exportLines("?action=schedule", ctx.admin.cookie);
    expect(group.lines.map((l) => l.id)).toEqual([...group.lines.map((l) => l.id)].sort((a, b) => a - b));
    const last = group.lines[group.lines.length - 1].id;
    expect((await exportLines(`?action=schedule&after=${last}`, ctx.admin.cookie)).lines).toEqual([]);
  });

  test("an unknown action or parameter is a 400 naming it; a token or member below ADMIN is refused; another organization's rows are not there", async () => {
    await expectError(await ctx.api.get("/audit?action=device.explode", { as: ctx.admin }), 400, "invalid", "action");
    await expectError(await ctx.api.get("/audit?since=yesterday", { as: ctx.admin }), 400, "invalid", "since");
    await expectError(await ctx.api.get("/audit?who=me", { as: ctx.admin }), 400, "invalid", "who");
    // A cursor is decimal digits: another spelling of a number is not read as one.
    for (const after of ["0x10", "1e3", "%201", "-1"]) await expectError(await ctx.api.get(`/audit?after=${after}`, { as: ctx.admin }), 400, "invalid", "after");
    await expectError(await ctx.api.get("/audit", { as: ctx.token("acmeWrite") }), 403, "forbidden");
    await expectError(await ctx.api.get("/audit", { as: ctx.viewer }), 403, "forbidden");
    const globex = await ctx.api.post("/schedules", { as: ctx.token("globex"), json: { name: "globex only", type: "SYNC", targets: { all: true }, cron: "0 * * * *", timezone: "UTC" } });
    expect(globex.status).toBe(201);
    const acme = await exportLines("", ctx.admin.cookie);
    expect(acme.lines.some((l) => l.target?.label === "globex only")).toBe(false);
  });
});
