import { ensureBuild } from "../../scripts/ensure-build";

// Integration tests start the real production server: build it once, before any suite.
export default function setup() {
  process.env.NEXT_TELEMETRY_DISABLED = "1";
  ensureBuild();
}
