// `npm run agents` flags: parsing, defaults, and the messages for bad input.
import { spawnSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { parseAgentsArgs } from "../../lib/agents/sim/cli";
import { agentName, isOffline } from "../../lib/agents/sim/fleet";

const base = ["--url", "http://127.0.0.1:3300", "--count", "20"];

function errorOf(argv: string[]): string {
  const res = parseAgentsArgs(argv);
  if (res.kind !== "error") throw new Error(`expected an error, got ${JSON.stringify(res)}`);
  return res.message;
}

describe("parseAgentsArgs", () => {
  test("defaults", () => {
    expect(parseAgentsArgs(base)).toEqual({
      kind: "run",
      options: {
        url: "http://127.0.0.1:3300",
        registrationToken: undefined,
        count: 20,
        failRate: 0.05,
        offlineRate: 0,
        speed: 1,
        namePrefix: "sim",
        statePath: "data/agents-sim.json",
        heartbeatSeconds: 60,
        agentVersion: "1.9.1",
        enrollMissing: false,
        fromState: false,
      },
    });
  });

  test("every flag", () => {
    const res = parseAgentsArgs([
      "--url=https://taskwire.example.com/",
      "--registration-token",
      "reg_abc",
      "--count",
      "1000",
      "--fail-rate",
      "0.2",
      "--offline-rate",
      "0.1",
      "--speed",
      "0.5",
      "--name-prefix",
      "fw-ams",
      "--heartbeat-seconds",
      "15",
      "--agent-version",
      "2.0.0-rc1",
      "--enroll-missing",
      "--from-state",
    ]);
    expect(res).toEqual({
      kind: "run",
      options: {
        url: "https://taskwire.example.com",
        registrationToken: "reg_abc",
        count: 1000,
        failRate: 0.2,
        offlineRate: 0.1,
        speed: 0.5,
        namePrefix: "fw-ams",
        statePath: "data/agents-fw-ams.json",
        heartbeatSeconds: 15,
        agentVersion: "2.0.0-rc1",
        enrollMissing: true,
        fromState: true,
      },
    });
  });

  test("--state overrides the default file", () => {
    const res = parseAgentsArgs([...base, "--state", "/tmp/x.json"]);
    expect(res.kind === "run" && res.options.statePath).toBe("/tmp/x.json");
  });

  test("missing or bad --url", () => {
    expect(errorOf(["--count", "3"])).toBe("--url is required (the Taskwire server, e.g. http://127.0.0.1:3000)");
    expect(errorOf(["--url", "localhost:3000", "--count", "3"])).toBe('--url must start with http:// or https:// (got "localhost:3000")');
    expect(errorOf(["--url", "not a url", "--count", "3"])).toBe('--url must be a URL like http://127.0.0.1:3000 (got "not a url")');
    expect(errorOf(["--url", "http://h:1/agent", "--count", "3"])).toBe(
      '--url is the server\'s origin, without a path (got "http://h:1/agent", use "http://h:1")',
    );
  });

  test("bad --count", () => {
    expect(errorOf(["--url", "http://h:1"])).toBe("--count is required (how many agents to run)");
    expect(errorOf(["--url", "http://h:1", "--count", "0"])).toBe('--count must be a whole number from 1 to 10000 (got "0")');
    expect(errorOf(["--url", "http://h:1", "--count", "2.5"])).toBe('--count must be a whole number from 1 to 10000 (got "2.5")');
    expect(errorOf(["--url", "http://h:1", "--count", "ten"])).toBe('--count must be a whole number from 1 to 10000 (got "ten")');
    expect(errorOf(["--url", "http://h:1", "--count", "10001"])).toBe('--count must be a whole number from 1 to 10000 (got "10001")');
  });

  test("bad rates, speed and heartbeat", () => {
    expect(errorOf([...base, "--fail-rate", "2"])).toBe('--fail-rate must be a number from 0 to 1 (got "2")');
    expect(errorOf([...base, "--offline-rate=-0.1"])).toBe('--offline-rate must be a number from 0 to 1 (got "-0.1")');
    expect(errorOf([...base, "--speed", "0"])).toBe('--speed must be a number greater than 0 and at most 1000 (got "0")');
    expect(errorOf([...base, "--heartbeat-seconds", ""])).toBe('--heartbeat-seconds must be a whole number from 1 to 86400 (got "")');
  });

  test("bad prefix, unknown flags, stray arguments, flags without a value", () => {
    expect(errorOf([...base, "--name-prefix=-x"])).toMatch(/^--name-prefix must start with a letter or digit/);
    // A value that looks like a flag is Node's to refuse, with its own hint.
    expect(errorOf([...base, "--name-prefix", "-x"])).toMatch(/^Option '--name-prefix' argument is ambiguous/);
    expect(errorOf([...base, "--name-prefix", "a b"])).toMatch(/^--name-prefix must start/);
    expect(errorOf([...base, "--cont", "3"])).toBe("Unknown option '--cont'");
    expect(errorOf([...base, "extra"])).toMatch(/Unexpected argument 'extra'/);
    expect(errorOf(["--url"])).toMatch(/--url/);
  });

  test("--help", () => {
    expect(parseAgentsArgs(["--help"])).toEqual({ kind: "help" });
  });
});

describe("scripts/agents.ts", () => {
  test("exits 2 with the message and usage on a bad flag", () => {
    const res = spawnSync(process.execPath, ["--import", "tsx", "scripts/agents.ts", "--url", "http://127.0.0.1:1", "--count", "0"], {
      encoding: "utf8",
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('--count must be a whole number from 1 to 10000 (got "0")');
    expect(res.stderr).toContain("Usage: npm run agents");
  });
});

describe("fleet naming and the offline share", () => {
  test("names are zero-padded and stable", () => {
    expect(agentName("sim", 7)).toBe("sim-0007");
    expect(agentName("sim", 12345)).toBe("sim-12345");
  });

  test("exactly floor(count × rate) agents stay offline, spread out, the same ones every time", () => {
    const offline = (count: number, rate: number) => Array.from({ length: count }, (_, i) => i + 1).filter((i) => isOffline(i, rate));
    expect(offline(20, 0)).toEqual([]);
    expect(offline(20, 0.1)).toEqual([10, 20]);
    expect(offline(20, 0.25)).toEqual([4, 8, 12, 16, 20]);
    expect(offline(1000, 0.05)).toHaveLength(50);
    expect(offline(1000, 0.3)).toHaveLength(300);
    expect(offline(5, 1)).toEqual([1, 2, 3, 4, 5]);
  });
});
