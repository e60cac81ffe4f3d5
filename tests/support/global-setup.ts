// Integration tests start the real production server; it must be built first. `npm test`
// builds before the suites run; this only guards a bare `vitest run` against a stale tree.
import { existsSync } from "node:fs";

export default function setup() {
  process.env.NEXT_TELEMETRY_DISABLED = "1";
  if (!existsSync(".next/BUILD_ID")) {
    console.warn("No production build in .next: integration tests that start the server will build first (npm run build).");
  }
}
