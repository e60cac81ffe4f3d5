// What a simulated appliance does with each task type: how long it takes and what it says.
// Pure: every random choice comes from the `random` it is given, so a test can pin it.
import { createHash } from "node:crypto";
import type { TaskType } from "../../../rules/tasks";

export type Random = () => number;
export type ResultStatus = "COMPLETED" | "FAILED";

/** The appliance facts a result mentions; the agent keeps them between tasks. */
export interface ApplianceFacts {
  name: string;
  firmware: string;
  pluginVersion: string;
  configRevision: number;
}

/** How a task plays out. `downtimeMs` set: the device goes away (reboot, power-off) after working. */
export interface WorkPlan {
  durationMs: number;
  downtimeMs?: number;
  status: ResultStatus;
  /** The result message; REBOOT/SHUTDOWN are finished by `afterDowntime` once the device is back. */
  message: string;
  /** Facts that change when the task succeeds (a new config revision, plugin, firmware). */
  update?: Partial<ApplianceFacts>;
}

const between = (random: Random, min: number, max: number) => min + random() * (max - min);
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.min(items.length - 1, Math.floor(random() * items.length))];
const hex = (random: Random, n: number) => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join("");
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

/** Seconds of work per type before speed scaling: [min, max]. */
const DURATION_S: Record<TaskType, [number, number]> = {
  PING: [0.8, 1.2],
  RESTART: [1.5, 2.5],
  SYNC: [2, 8],
  PULL: [2, 6],
  PUSH: [2, 6],
  BACKUP: [2, 6],
  PLUGIN_INSTALL: [10, 20],
  FIRMWARE_UPGRADE: [55, 65],
  REBOOT: [1, 2],
  SHUTDOWN: [1, 2],
};
const DOWNTIME_S: [number, number] = [5, 15];

/**
 * Decides how a task goes: `fail` says whether this one fails (the caller rolls the fail
 * rate), the rest is flavour. `speed` divides every duration.
 */
export function planWork(
  type: TaskType,
  payload: Record<string, unknown> | null,
  facts: ApplianceFacts,
  opts: { fail: boolean; speed: number; random: Random },
): WorkPlan {
  const { random, speed, fail } = opts;
  const [min, max] = DURATION_S[type];
  const durationMs = Math.round((between(random, min, max) * 1000) / speed);
  const done = (message: string, update?: Partial<ApplianceFacts>): WorkPlan => ({ durationMs, status: "COMPLETED", message, update });
  const failed = (message: string): WorkPlan => ({ durationMs, status: "FAILED", message });

  switch (type) {
    case "PING": {
      const host = typeof payload?.host === "string" ? payload.host : "1.1.1.1";
      const count = typeof payload?.count === "number" && payload.count >= 1 ? Math.min(1000, Math.floor(payload.count)) : 4;
      if (fail) {
        return pick(random, ["dns", "loss"]) === "dns" && !isIp(host)
          ? failed(`ping: cannot resolve ${host}: Unknown host`)
          : failed(pingOutput(host, count, 0, random));
      }
      return done(pingOutput(host, count, count - (random() < 0.1 ? 1 : 0), random));
    }
    case "RESTART":
      return fail
        ? failed(pick(random, [
            "service taskwire_agent restart: /usr/local/etc/rc.d/taskwire_agent: WARNING: failed to start taskwire_agent (exit code 1)",
            "rc.d: taskwire_agent is locked by pid " + Math.floor(between(random, 1000, 90000)) + " (another restart is running)",
          ]))
        : done("Agent restart scheduled via rc.d");
    case "SYNC": {
      if (fail) {
        return failed(pick(random, [
          "configd: template generation failed for OPNsense/Filter: 'dict object' has no attribute 'rule' (pf.conf not written)",
          "configctl filter reload: pfctl: Syntax error in config file: pf rules not loaded (/tmp/rules.debug:214)",
          "Configuration rejected: alias \"LAN_SERVERS\" referenced by rule 12 does not exist",
        ]));
      }
      const revision = facts.configRevision + 1;
      return done(`Configuration applied (revision ${revision}, sha256 ${hex(random, 12)}…)`, { configRevision: revision });
    }
    case "PULL": {
      if (fail) {
        return failed(pick(random, [
          "Cannot read /conf/config.xml: Permission denied",
          "Upload of running configuration failed: connection reset by peer after 12288 bytes",
        ]));
      }
      const bytes = Math.floor(between(random, 40_000, 900_000));
      return done(`Running configuration sent: config.xml, ${kib(bytes)} (revision ${facts.configRevision}, sha256 ${hex(random, 12)}…)`);
    }
    case "PUSH": {
      if (fail) {
        return failed(pick(random, [
          `Fragment rejected: XML parse error at line ${Math.floor(between(random, 2, 80))}: mismatched tag`,
          "configd: configuration fragment conflicts with a local change made at the console (merge refused)",
        ]));
      }
      const revision = facts.configRevision + 1;
      return done(`Configuration fragment merged, ${Math.floor(between(random, 1, 40))} sections changed (revision ${revision})`, {
        configRevision: revision,
      });
    }
    case "BACKUP": {
      if (fail) {
        return failed(pick(random, [
          "Backup upload failed: HTTP 507 Insufficient Storage",
          "tar: /conf/backup: Cannot write: No space left on device",
        ]));
      }
      const bytes = Math.floor(between(random, 60_000, 2_400_000));
      const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
      return done(`Backup config-${facts.name}-${stamp}.xml.gz uploaded (${kib(bytes)}, sha256 ${hex(random, 16)}…)`);
    }
    case "PLUGIN_INSTALL": {
      const target = typeof payload?.targetVersion === "string" && payload.targetVersion ? payload.targetVersion : facts.pluginVersion;
      if (fail) {
        return failed(pick(random, [
          `pkg: No packages available to install matching 'os-taskwire-agent-${target}' have been found in the repositories`,
          "pkg: https://pkg.opnsense.org/FreeBSD:14:amd64/24.7/latest/meta.txz: Operation timed out",
        ]));
      }
      return done(
        `Installed os-taskwire-agent-${target} (was ${facts.pluginVersion}); ${Math.floor(between(random, 1, 6))} packages checked, agent restarted`,
        { pluginVersion: target },
      );
    }
    case "FIRMWARE_UPGRADE": {
      const mode = payload?.mode === "major" ? "major" : "minor";
      if (fail) {
        return failed(pick(random, [
          `opnsense-update: not enough free space on /: ${Math.floor(between(random, 80, 400))} MB available, 1.4 GB required`,
          "opnsense-update: fetch https://pkg.opnsense.org/sets/base-amd64.txz.sig: No address record",
          "pkg: Repository OPNsense has a wrong packagesite, need to re-create database",
        ]));
      }
      const next = nextFirmware(facts.firmware, mode);
      return done(`Firmware upgraded from ${facts.firmware} to ${next} (${mode}); ${Math.floor(between(random, 12, 160))} packages updated`, {
        firmware: next,
      });
    }
    case "REBOOT":
    case "SHUTDOWN": {
      if (fail) {
        return failed(pick(random, [
          `${type === "REBOOT" ? "Reboot" : "Shutdown"} refused: firmware update in progress (lock held by pid ${Math.floor(between(random, 1000, 90000))})`,
          "shutdown: /var/run/nologin: Read-only file system",
        ]));
      }
      const downtimeMs = Math.round((between(random, DOWNTIME_S[0], DOWNTIME_S[1]) * 1000) / speed);
      return { durationMs, downtimeMs, status: "COMPLETED", message: "" };
    }
  }
}

/** The message a REBOOT or SHUTDOWN reports once the device is back, `awaySeconds` after going down. */
export function afterDowntime(type: TaskType, awaySeconds: number): string {
  return type === "SHUTDOWN" ? "Appliance powered off cleanly" : `Device back online after reboot (${awaySeconds} s)`;
}

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/** A stable made-up address for a hostname, so the same name always resolves the same way. */
function resolve(host: string): string {
  if (isIp(host)) return host;
  const h = createHash("sha256").update(host).digest();
  return `${(h[0] % 200) + 20}.${h[1]}.${h[2]}.${(h[3] % 253) + 1}`;
}

/** FreeBSD ping output; per-packet lines only for short runs, the summary always. */
function pingOutput(host: string, count: number, received: number, random: Random): string {
  const ip = resolve(host);
  const base = between(random, 1.5, 45);
  const times = Array.from({ length: received }, () => base + random() * base * 0.15);
  const lines = [host === ip ? `PING ${ip} (${ip}): 56 data bytes` : `PING ${host} (${ip}): 56 data bytes`];
  if (count <= 20) {
    let t = 0;
    for (let seq = 0; seq < count; seq++) {
      // The lost packet (if any) is the last one: its line is simply missing, as with real ping.
      if (seq < received) lines.push(`64 bytes from ${ip}: icmp_seq=${seq} ttl=${57 + (seq % 2)} time=${times[t++].toFixed(3)} ms`);
      else lines.push(`Request timeout for icmp_seq ${seq}`);
    }
  }
  lines.push("", `--- ${host} ping statistics ---`);
  const loss = ((count - received) / count) * 100;
  lines.push(`${count} packets transmitted, ${received} packets received, ${loss.toFixed(1)}% packet loss`);
  if (received > 0) {
    const min = Math.min(...times);
    const max = Math.max(...times);
    const avg = times.reduce((a, b) => a + b, 0) / received;
    const sd = Math.sqrt(times.reduce((a, b) => a + (b - avg) ** 2, 0) / received);
    lines.push(`round-trip min/avg/max/stddev = ${min.toFixed(3)}/${avg.toFixed(3)}/${max.toFixed(3)}/${sd.toFixed(3)} ms`);
  }
  return lines.join("\n");
}

/** OPNsense-style versions: "24.7.9" → minor "24.7.10", major "25.1". */
function nextFirmware(current: string, mode: "minor" | "major"): string {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(current);
  if (!m) return current;
  const [year, month, patch] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  if (mode === "minor") return `${year}.${month}.${patch + 1}`;
  return month >= 7 ? `${year + 1}.1` : `${year}.7`;
}
