import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/unit/**/*.test.ts", "tests/integration/**/*.test.ts"],
    // better-sqlite3 is a native module: separate processes, not worker threads.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 180_000,
    globalSetup: ["tests/support/global-setup.ts"],
  },
});
