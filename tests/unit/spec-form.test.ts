// The schedule form's values from a saved spec (app/(console)/tasks/spec-form.ts), read back
// through the same parser a submitted form goes through: what an admin sees when changing a
// schedule is what it issues, and saving it unchanged saves the same request.
import { describe, expect, test } from "vitest";
import { z } from "zod";
import { NEW_SPEC_VALUES, specFields, specFormValues, specOf, type SpecFormValues } from "../../app/(console)/tasks/spec-form";
import type { ScheduleSpec } from "../../db/schema";
import { parsePayload } from "../../lib/tasks/issue";
import { issueSchema } from "../../lib/tasks/schemas";
import { payloadInputName, type TaskType } from "../../rules/tasks";

/** The form's fields as a browser would post them, from the values the form shows. */
function posted(v: SpecFormValues): Record<string, string> {
  const r = v.rollout;
  return {
    type: v.type,
    targetKind: v.targetKind,
    targetNames: v.targetNames,
    ttlValue: String(v.ttlValue),
    ttlUnit: v.ttlUnit,
    rolloutPreset: r.preset,
    ...(r.preset === "custom"
      ? {
          rolloutCanary: r.canary,
          rolloutWaves: r.waves,
          rolloutMaxInFlight: r.maxInFlight,
          rolloutBetween: r.between,
          ...(r.between === "minutes" ? { rolloutPauseMinutes: r.pauseMinutes } : {}),
          rolloutBreakerPercent: r.breakerPercent,
          rolloutBreakerMin: r.breakerMin,
        }
      : {}),
    ...Object.fromEntries(Object.entries(v.payload).map(([k, value]) => [payloadInputName(k), value])),
  };
}

/** A spec shown and posted back, as the domain reads it (the rollout parsed to its policy). */
function roundTrip(type: TaskType, spec: ScheduleSpec) {
  const values = specFormValues(type, spec);
  if (!values) throw new Error("the form cannot show it");
  const back = specOf(z.object(specFields).parse(posted(values)));
  return { values, back: asIssued(back), saved: asIssued({ type, targets: spec.targets, payload: spec.payload, ttlSeconds: spec.ttl_seconds, rollout: spec.rollout }) };
}

/** What the domain issues from a request: the parsed issue and its payload. */
function asIssued(raw: { type: string; payload?: unknown; targets: unknown; ttlSeconds?: number; rollout?: unknown }) {
  const { type, targets, ttlSeconds, rollout } = issueSchema.parse(raw);
  return { type, payload: parsePayload(type, raw.payload), targets, ttlSeconds, rollout: rollout ?? null };
}

describe("a saved spec in the form", () => {
  test.each<[string, TaskType, ScheduleSpec]>([
    ["a preset rollout to an OU, 2 days to live", "BACKUP", { targets: { ous: ["datacenter"] }, ttl_seconds: 2 * 86400, rollout: "canary" }],
    ["the whole organization, no ttl (the default)", "SYNC", { targets: { all: true } }],
    ["devices, 90 minutes, a custom policy with a pause and a breaker", "SYNC", { targets: { devices: ["fw-a", "fw-b"] }, ttl_seconds: 5400, rollout: { canary: 2, waves: ["10%", "rest"], max_in_flight: 5, between_waves: { pause_minutes: 15 }, breaker: { failed_percent: 20, min_finished: 3 } } }],
    ["a payload and a rollout that waits for Continue", "PING", { payload: { host: "10.0.0.1", count: 3 }, targets: { devices: ["fw-a"] }, ttl_seconds: 600, rollout: { canary: "5%", between_waves: "continue" } }],
  ])("%s: shown, then posted unchanged, is the same request", (_, type, spec) => {
    const { back, saved } = roundTrip(type, spec);
    expect(back).toEqual(saved);
  });

  test("its values are what the admin reads: names listed, the largest whole unit of time", () => {
    expect(specFormValues("SYNC", { targets: { devices: ["fw-a", "fw-b"] }, ttl_seconds: 7200 })).toMatchObject({ targetKind: "devices", targetNames: "fw-a, fw-b", ttlValue: 2, ttlUnit: "hours" });
    expect(specFormValues("SYNC", { targets: { all: true }, ttl_seconds: 90 })).toMatchObject({ targetKind: "all", ttlValue: 1.5, ttlUnit: "minutes" });
    expect(specFormValues("SYNC", { targets: { all: true }, rollout: { canary: 1, waves: "10%" } })!.rollout).toMatchObject({ preset: "custom", canary: "1", waves: "10%", between: "now" });
    expect(specFormValues("SYNC", { targets: { all: true } })).toEqual({ ...NEW_SPEC_VALUES, targetKind: "all", ttlValue: 1, ttlUnit: "days" });
  });

  test("a target naming both devices and OUs is not shown (the form has one kind): null", () => {
    expect(specFormValues("SYNC", { targets: { devices: ["fw-a"], ous: ["branches"] } })).toBeNull();
  });
});
