import { defineConfig } from "drizzle-kit";

// SQLite: the schema of db/schema/sqlite and its migrations (`npm run db:generate`).
export default defineConfig({
  dialect: "sqlite",
  schema: "./db/schema/sqlite/index.ts",
  out: "./db/migrations/sqlite",
});
