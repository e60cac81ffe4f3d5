import { describe, expect, it } from "vitest";
import { failureGroup } from "@/lib/tasks/failures";
import { FAILURE_PREFIX } from "@/rules/fanouts";

const same = (a: string, b: string) => expect(failureGroup(a)).toBe(failureGroup(b));
const apart = (a: string, b: string) => expect(failureGroup(a)).not.toBe(failureGroup(b));

describe("failureGroup", () => {
  it("merges messages that differ only in an alias index, a quoted name and an address", () => {
    same("Alias[3] 'web_servers' references unknown host 10.0.4.12", "Alias[7] 'db' references unknown host 192.168.1.254");
    expect(failureGroup("Alias[3] 'web_servers' references unknown host 10.0.4.12")).toBe('Alias[#] "…" references unknown host <ip>');
  });

  it("merges numbers, durations and versions", () => {
    same("Connection to update server timed out after 30001 ms", "Connection to update server timed out after 29998 ms");
    same("pfctl: /tmp/rules.debug:142: syntax error", "pfctl: /tmp/rules.debug:88: syntax error");
    same("Plugin os-haproxy 4.1.2 is not available for 23.7", "Plugin os-haproxy 4.2 is not available for 24.1");
    expect(failureGroup("Disk usage 97.5% above 95%")).toBe("Disk usage #% above #%");
  });

  it("merges addresses of both families, with ports and prefixes, and MAC addresses", () => {
    same("Gateway WAN_DHCP 203.0.113.7:443 is down", "Gateway WAN_DHCP 198.51.100.1:8443 is down");
    same("Route to 10.1.0.0/16 refused", "Route to 2001:db8:85a3::8a2e:370:7334/64 refused");
    same("Duplicate address fe80::1ff:fe23:4567:890a on igb0", "Duplicate address fe80::2 on igb0");
    same("Lease conflict for 00:1a:2b:3c:4d:5e", "Lease conflict for AA:BB:CC:DD:EE:FF");
  });

  it("merges ids: UUIDs, hashes, task codes and serials", () => {
    same("Backup 3f2b8c1e-9a4d-4e2f-b6a1-0c9d8e7f6a5b failed checksum", "Backup 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d failed checksum");
    same("Config hash 9f86d081884c7d659a2feaa0c55ad015 does not match", "Config hash 2c26b46b68ffc68ff99b453c1d304134 does not match");
    same("Superseded by task aB3dE5fG", "Superseded by task Zq9Wx2Lp");
  });

  it("keeps different failures apart", () => {
    apart("Disk full", "Permission denied");
    apart("Alias[3] references unknown host 10.0.0.1", "Alias[3] references unknown port 10.0.0.1");
    apart("Configuration applied with warnings", "Configuration rejected");
  });

  it("does not mistake words for ids", () => {
    expect(failureGroup("Unbound failed to restart: address already in use")).toBe("Unbound failed to restart: address already in use");
    expect(failureGroup("deadbeef is not a valid interface")).toBe("deadbeef is not a valid interface");
  });

  it("evens out spacing and groups missing messages together", () => {
    same("Timeout   waiting\nfor  reply", "Timeout waiting for reply");
    expect(failureGroup(null)).toBe("");
    expect(failureGroup("")).toBe("");
  });

  it("groups by the first FAILURE_PREFIX characters", () => {
    const head = "x".repeat(FAILURE_PREFIX);
    same(`${head} tail one`, `${head} another tail`);
  });
});
