import { defineConfig } from "drizzle-kit";

// PostgreSQL: the schema of db/schema/pg and its migrations (`npm run db:generate`).
export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema/pg/index.ts",
  out: "./db/migrations/pg",
});
