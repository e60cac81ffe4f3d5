// npm run agents -- --url <server> --registration-token <token> --count N [options]
// A simulated fleet speaking docs/agent-protocol.md; see lib/agents/sim.
import { parseAgentsArgs, USAGE } from "../lib/agents/sim/cli";
import { Fleet, FleetError } from "../lib/agents/sim/fleet";

const args = parseAgentsArgs(process.argv.slice(2));
if (args.kind === "help") {
  console.log(USAGE);
  process.exit(0);
}
if (args.kind === "error") {
  console.error(`${args.message}\n\n${USAGE}`);
  process.exit(2);
}

const o = args.options;
const fleet = new Fleet({
  url: o.url,
  registrationToken: o.registrationToken,
  count: o.count,
  failRate: o.failRate,
  offlineRate: o.offlineRate,
  speed: o.speed,
  namePrefix: o.namePrefix,
  statePath: o.statePath,
  heartbeatSeconds: o.heartbeatSeconds,
  version: o.agentVersion,
  enrollMissing: o.enrollMissing,
  fromState: o.fromState,
});

// `on`, not `once`: under tsx a Ctrl+C arrives twice (from the terminal and relayed by the
// tsx parent), and with `once` the second one would kill the process in the middle of stop().
let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the agents…`);
  fleet.stop();
  process.exit(0);
};
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

try {
  await fleet.start();
} catch (e) {
  fleet.stop();
  if (e instanceof FleetError) {
    console.error(e.message);
    process.exit(e.exitCode);
  }
  throw e;
}
