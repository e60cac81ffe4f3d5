// The JSON API's router (api/router.ts) names each route's module in a table: a route file
// missing from it would be served by nothing.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { API_PATHS } from "../../api/router";

const API = fileURLToPath(new URL("../../api", import.meta.url));

test("every route file under api/v1 is in the router's table, and the table names no other", () => {
  const files = readdirSync(API, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith("/route.ts"))
    .map((f) => `/api/${f.slice(0, -"/route.ts".length)}`);
  expect(files.length).toBeGreaterThan(20);
  expect([...API_PATHS].sort()).toEqual(files.sort());
});
