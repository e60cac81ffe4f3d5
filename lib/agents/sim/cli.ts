// Flags of `npm run agents`: node:util parseArgs splits them, zod says what is wrong.
import { parseArgs } from "node:util";
import { z } from "zod";
import { DEFAULT_AGENT_VERSION } from "./sim-agent";

export const USAGE = `Usage: npm run agents -- --url <server> --count <n> [options]

Runs a fleet of simulated agents against a Taskwire server (docs/agent-protocol.md).

  --url <url>                  the Taskwire server, e.g. http://127.0.0.1:3000 (required)
  --count <n>                  how many agents, 1–10000 (required)
  --registration-token <reg_…> the organization's registration token (Settings);
                               needed to enroll agents the state file does not know yet
  --fail-rate <0–1>            share of tasks that fail (default 0.05)
  --offline-rate <0–1>         share of agents that never connect (default 0)
  --speed <x>                  work faster (2) or slower (0.5) than real time (default 1)
  --name-prefix <prefix>       device names are <prefix>-0001… (default sim)
  --state <file>               tokens of enrolled agents (default data/agents-<prefix>.json)
  --heartbeat-seconds <s>      heartbeat period (default 60)
  --agent-version <version>    the version agents report (default ${DEFAULT_AGENT_VERSION})
  --enroll-missing             re-enroll agents whose saved token the server refuses
  --from-state                 run the first <count> agents of the state file, whatever
                               their names (the fleets npm run demo seeds)
  --help                       show this help`;

export interface AgentsCliOptions {
  url: string;
  registrationToken?: string;
  count: number;
  failRate: number;
  offlineRate: number;
  speed: number;
  namePrefix: string;
  statePath: string;
  heartbeatSeconds: number;
  agentVersion: string;
  enrollMissing: boolean;
  fromState: boolean;
}

export type AgentsCliParse = { kind: "run"; options: AgentsCliOptions } | { kind: "help" } | { kind: "error"; message: string };

/** Reads a numeric flag's text as a number, or reports what it should be, naming the flag. */
function asNumber(flag: string, o: { whole?: boolean; min: number; max: number; above?: boolean }) {
  const range = o.above ? `greater than ${o.min} and at most ${o.max}` : `from ${o.min} to ${o.max}`;
  const what = `${o.whole ? "a whole number" : "a number"} ${range}`;
  return (text: string, ctx: z.RefinementCtx<string>): number => {
    const n = text.trim() === "" ? NaN : Number(text);
    const bad = !Number.isFinite(n) || (o.whole && !Number.isInteger(n)) || n > o.max || (o.above ? n <= o.min : n < o.min);
    if (bad) {
      ctx.addIssue({ code: "custom", message: `--${flag} must be ${what} (got "${text}")` });
      return z.NEVER;
    }
    return n;
  };
}

const numberFlag = (flag: string, o: Parameters<typeof asNumber>[1], fallback: number) =>
  z.string().default(String(fallback)).transform(asNumber(flag, o));

const urlFlag = z
  .string({ error: (i) => (i.input === undefined ? "--url is required (the Taskwire server, e.g. http://127.0.0.1:3000)" : "--url must be a URL") })
  .transform((text, ctx) => {
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      ctx.addIssue({ code: "custom", message: `--url must be a URL like http://127.0.0.1:3000 (got "${text}")` });
      return z.NEVER;
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      ctx.addIssue({ code: "custom", message: `--url must start with http:// or https:// (got "${text}")` });
      return z.NEVER;
    }
    // Socket.IO reads a path as the namespace: the server must be given as an origin.
    if (u.pathname !== "/" || u.search || u.hash) {
      ctx.addIssue({ code: "custom", message: `--url is the server's origin, without a path (got "${text}", use "${u.origin}")` });
      return z.NEVER;
    }
    return u.origin;
  });

const flagsSchema = z.object({
  url: urlFlag,
  "registration-token": z.string().trim().min(1, "--registration-token cannot be empty").max(100, "--registration-token is at most 100 characters").optional(),
  count: z
    .string({ error: (i) => (i.input === undefined ? "--count is required (how many agents to run)" : "--count must be a number") })
    .transform(asNumber("count", { whole: true, min: 1, max: 10_000 })),
  "fail-rate": numberFlag("fail-rate", { min: 0, max: 1 }, 0.05),
  "offline-rate": numberFlag("offline-rate", { min: 0, max: 1 }, 0),
  speed: numberFlag("speed", { min: 0, max: 1000, above: true }, 1),
  "name-prefix": z
    .string()
    .default("sim")
    .refine((p) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/.test(p), {
      message: "--name-prefix must start with a letter or digit and hold only letters, digits, '.', '-' and '_' (at most 40)",
    }),
  state: z.string().trim().min(1, "--state cannot be empty").optional(),
  "heartbeat-seconds": numberFlag("heartbeat-seconds", { whole: true, min: 1, max: 86_400 }, 60),
  "agent-version": z
    .string()
    .default(DEFAULT_AGENT_VERSION)
    .refine((v) => /^[0-9A-Za-z._+-]{1,32}$/.test(v), { message: "--agent-version is letters, digits, dots and dashes (at most 32)" }),
  "enroll-missing": z.boolean().default(false),
  "from-state": z.boolean().default(false),
});

const STRING_FLAGS = [
  "url",
  "registration-token",
  "count",
  "fail-rate",
  "offline-rate",
  "speed",
  "name-prefix",
  "state",
  "heartbeat-seconds",
  "agent-version",
] as const;

export function parseAgentsArgs(argv: string[]): AgentsCliParse {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: "string" as const }])),
        "enroll-missing": { type: "boolean" },
        "from-state": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    // Node's own wording, minus its long hint about positionals.
    return { kind: "error", message: (e as Error).message.split(". To specify")[0] };
  }
  if (values.help) return { kind: "help" };
  const parsed = flagsSchema.safeParse(values);
  if (!parsed.success) return { kind: "error", message: parsed.error.issues[0].message };
  const f = parsed.data;
  return {
    kind: "run",
    options: {
      url: f.url,
      registrationToken: f["registration-token"],
      count: f.count,
      failRate: f["fail-rate"],
      offlineRate: f["offline-rate"],
      speed: f.speed,
      namePrefix: f["name-prefix"],
      statePath: f.state ?? `data/agents-${f["name-prefix"]}.json`,
      heartbeatSeconds: f["heartbeat-seconds"],
      agentVersion: f["agent-version"],
      enrollMissing: f["enroll-missing"],
      fromState: f["from-state"],
    },
  };
}
