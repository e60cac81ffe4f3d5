import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// better-sqlite3 is a native module: tests run in separate processes, not worker threads.
const shared = { pool: "forks" as const, testTimeout: 30_000 };

export default defineConfig({
  test: {
    projects: [
      {
        // The app's "@/…" imports, for unit tests of client islands' pure parts (live-task-list's applyPatch).
        resolve: { alias: { "@": fileURLToPath(new URL(".", import.meta.url)) } },
        test: { ...shared, name: "unit", include: ["tests/unit/**/*.test.ts"] },
      },
      {
        test: {
          ...shared,
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          // These tests start real servers and wait for named things (a server listening, a
          // device going offline), each wait with the time its work needs on a busy machine
          // and a message naming it. A test's own timeout must not be a tighter bound than
          // the sum of its waits: one that seeds the demo and starts it again waits minutes.
          testTimeout: 300_000,
          hookTimeout: 180_000,
          // Integration suites start the real production server: it is built once, first.
          globalSetup: ["tests/support/global-setup.ts"],
        },
      },
      {
        test: {
          ...shared,
          // Several nodes on one PostgreSQL behind nginx; skipped on SQLite.
          name: "cluster",
          include: ["tests/cluster/**/*.test.ts"],
          hookTimeout: 300_000,
          globalSetup: ["tests/support/global-setup.ts"],
        },
      },
    ],
  },
});
