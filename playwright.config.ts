import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig, devices } from "@playwright/test";

const PORT = Number(process.env.E2E_PORT ?? 3917);
const baseURL = `http://127.0.0.1:${PORT}`;
// The server's data directory, known to the specs too (they open its database file to approve
// an enrolled device). Set here, so the runner's workers inherit it; one per port.
const DATA_DIR = (process.env.E2E_DATA_DIR ??= join(tmpdir(), `taskwire-e2e-${PORT}`));

export default defineConfig({
  testDir: "tests/e2e",
  outputDir: "test-results",
  // One server, one database, two cores: tests run one at a time, in a stable order.
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    },
  },
  projects: [
    { name: "setup", testMatch: /auth\.setup\.ts/ },
    { name: "chromium", use: { ...devices["Desktop Chrome"], viewport: { width: 1400, height: 1000 } }, dependencies: ["setup"] },
    // Measurements print figures and assert nothing about time: only with MEASURE=1.
    ...(process.env.MEASURE
      ? [{ name: "measure", testMatch: /\.measure\.ts$/, use: { ...devices["Desktop Chrome"], viewport: { width: 1400, height: 1000 } }, dependencies: ["setup"] }]
      : []),
  ],
  webServer: {
    command: "tsx tests/e2e/serve.ts",
    url: `${baseURL}/sign-in`,
    env: { PORT: String(PORT), HOST: "127.0.0.1", NEXT_TELEMETRY_DISABLED: "1", E2E_DATA_DIR: DATA_DIR },
    reuseExistingServer: false,
    timeout: 120_000,
    // Stopped as an operator would (SIGTERM): it closes, and removes its data folder.
    gracefulShutdown: { signal: "SIGTERM", timeout: 30_000 },
    stdout: "ignore",
    stderr: "pipe",
  },
});
