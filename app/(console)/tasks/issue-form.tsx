"use client";

import Link from "next/link";
import { startTransition, useActionState, useRef, useState, type FormEvent } from "react";
import type { ActionResult } from "@/app/_lib/action-result";
import { PAYLOAD_FIELDS, payloadInputName, TASK_TYPE_LABELS, TASK_TYPES, type PayloadField, type TaskType } from "@/rules/tasks";
import { policySummary, ROLLOUT_PRESET_LABELS, ROLLOUT_PRESET_POLICIES, ROLLOUT_PRESETS, type RolloutPreset } from "@/rules/rollouts";
import { issueTaskAction } from "./actions";
import { NEW_SPEC_VALUES, type SpecFormValues } from "./spec-form";

export function FieldError({ state, name }: { state: FormState; name: string }) {
  const msg = state && !state.ok ? state.fieldErrors?.[name]?.[0] : undefined;
  return msg ? (
    <p id={`${name}-error`} className="field-error">
      {msg}
    </p>
  ) : null;
}

/** What a form's fields read their errors from: its last result. */
type FormState = ActionResult<unknown> | undefined;

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * The inputs of a type's payload, from its fields (rules/tasks.ts). Remounted with the type,
 * so a field's default comes back when its type is chosen again. Bounds a browser can check
 * (a number's min and max) are given to it; the rest is the server's to judge and explain.
 */
function PayloadInputs({ fields, state, values }: { fields: readonly PayloadField[]; state: FormState; values: Record<string, string> }) {
  if (!fields.length) return null;
  const invalid = (name: string) => (state && !state.ok && state.fieldErrors?.[name] ? true : undefined);
  const single = fields.length === 1;
  return (
    <div className={single ? "mt-3" : "mt-3 grid grid-cols-3 gap-2"}>
      {fields.map((f, i) => {
        const name = payloadInputName(f.name);
        const id = `payload-${f.name}`;
        const label = f.required || f.kind === "number" ? f.label : `${f.label} (optional)`;
        if (f.kind === "select") {
          return (
            <fieldset key={f.name}>
              <legend className="label">{label}</legend>
              <div className="flex gap-4 text-sm">
                {f.options.map((o) => (
                  <label key={o} className="flex items-center gap-1.5">
                    <input type="radio" name={name} value={o} defaultChecked={o === (values[f.name] ?? f.default)} /> {capitalized(o)}
                  </label>
                ))}
              </div>
              <FieldError state={state} name={name} />
            </fieldset>
          );
        }
        // The first of several fields takes the room the others leave (a host beside its count).
        return (
          <div key={f.name} className={!single && i === 0 ? "col-span-2" : undefined}>
            <label htmlFor={id} className="label">
              {label}
            </label>
            {f.kind === "number" ? (
              <input id={id} name={name} type="number" min={f.min} max={f.max} defaultValue={values[f.name] ?? f.default} className="input" aria-invalid={invalid(name)} />
            ) : (
              <input id={id} name={name} defaultValue={values[f.name]} className="input" placeholder={f.placeholder} aria-invalid={invalid(name)} />
            )}
            <FieldError state={state} name={name} />
          </div>
        );
      })}
    </div>
  );
}

/**
 * How the fan-out goes out: a preset (rules/rollouts.ts), or a policy written out. The fields
 * are text, as in the API ("1" or "5%"; waves "5%, 25%, rest"): the domain judges them and
 * names the field in its error.
 */
function RolloutInputs({ state, initial }: { state: FormState; initial: SpecFormValues["rollout"] }) {
  const [preset, setPreset] = useState<RolloutPreset | "custom">(initial.preset);
  const [between, setBetween] = useState<"now" | "minutes" | "continue">(initial.between);
  const invalid = state && !state.ok && state.fieldErrors?.rollout ? true : undefined;
  return (
    <div className="mt-4">
      <label htmlFor="issue-rollout" className="label">
        Rollout
      </label>
      <select id="issue-rollout" name="rolloutPreset" value={preset} onChange={(e) => setPreset(e.target.value as RolloutPreset | "custom")} className="input" aria-invalid={invalid} aria-describedby="issue-rollout-hint">
        {ROLLOUT_PRESETS.map((p) => (
          <option key={p} value={p}>
            {ROLLOUT_PRESET_LABELS[p]}
          </option>
        ))}
        <option value="custom">Custom…</option>
      </select>
      <p id="issue-rollout-hint" className="mt-1 text-xs text-slate-500">
        {preset === "custom"
          ? "Sizes are a number of devices or a percentage of the target. The last wave size repeats until every device has its wave."
          : preset === "all-at-once"
            ? "Every device gets its task at once."
            : `${capitalized(policySummary(ROLLOUT_PRESET_POLICIES[preset]!))}.`}
      </p>
      {preset === "custom" && (
        <div className="mt-2 grid grid-cols-2 gap-2">
          <div>
            <label htmlFor="rollout-canary" className="label">
              Canary
            </label>
            <input id="rollout-canary" name="rolloutCanary" defaultValue={initial.canary} className="input" placeholder="1 or 5%" aria-invalid={invalid} />
          </div>
          <div>
            <label htmlFor="rollout-waves" className="label">
              Then waves of
            </label>
            <input id="rollout-waves" name="rolloutWaves" defaultValue={initial.waves} className="input" placeholder="10% or 5%, 25%, rest" aria-invalid={invalid} />
          </div>
          <div>
            <label htmlFor="rollout-in-flight" className="label">
              At most in flight
            </label>
            <input id="rollout-in-flight" name="rolloutMaxInFlight" type="number" min={1} defaultValue={initial.maxInFlight} className="input" placeholder="no limit" aria-invalid={invalid} />
          </div>
          <div>
            <label htmlFor="rollout-between" className="label">
              Between waves
            </label>
            <select id="rollout-between" name="rolloutBetween" value={between} onChange={(e) => setBetween(e.target.value as typeof between)} className="input">
              <option value="now">Go on at once</option>
              <option value="minutes">Pause for minutes</option>
              <option value="continue">Wait for Continue</option>
            </select>
          </div>
          {between === "minutes" && (
            <div>
              <label htmlFor="rollout-pause" className="label">
                Pause (minutes)
              </label>
              <input id="rollout-pause" name="rolloutPauseMinutes" type="number" min={1} defaultValue={initial.pauseMinutes} className="input" aria-invalid={invalid} />
            </div>
          )}
          <fieldset className="col-span-2">
            <legend className="label">Breaker (optional)</legend>
            <div className="flex flex-wrap items-center gap-2 text-sm">
              <span>Stop when more than</span>
              <input name="rolloutBreakerPercent" type="number" min={1} max={100} defaultValue={initial.breakerPercent} className="input w-20" aria-label="Breaker: failed percentage" aria-invalid={invalid} />
              <span>% fail, after</span>
              <input name="rolloutBreakerMin" type="number" min={1} defaultValue={initial.breakerMin} className="input w-20" aria-label="Breaker: finished tasks before it judges" aria-invalid={invalid} />
              <span>finished</span>
            </div>
          </fieldset>
        </div>
      )}
      <FieldError state={state} name="rollout" />
    </div>
  );
}

/** The type and its payload's fields; a saved spec's, when one is edited. */
export function TypeInputs({ state, initial = NEW_SPEC_VALUES }: { state: FormState; initial?: Pick<SpecFormValues, "type" | "payload"> }) {
  const [type, setType] = useState<TaskType>(initial.type);
  return (
    <>
      <label htmlFor="issue-type" className="label">
        Type
      </label>
      <select id="issue-type" name="type" value={type} onChange={(e) => setType(e.target.value as TaskType)} className="input">
        {TASK_TYPES.map((t) => (
          <option key={t} value={t}>
            {t} — {TASK_TYPE_LABELS[t]}
          </option>
        ))}
      </select>
      <FieldError state={state} name="type" />

      <PayloadInputs key={type} fields={PAYLOAD_FIELDS[type]} state={state} values={type === initial.type ? initial.payload : {}} />
    </>
  );
}

/** Where it goes (devices, OUs or the whole organization), its time to live and its rollout; a saved spec's, when one is edited. */
export function TargetInputs({ state, ous, initial = NEW_SPEC_VALUES }: { state: FormState; ous: string[]; initial?: SpecFormValues }) {
  const [targetKind, setTargetKind] = useState<"devices" | "ous" | "all">(initial.targetKind);
  const invalid = (name: string) => (state && !state.ok && state.fieldErrors?.[name] ? true : undefined);
  return (
    <div>
      <fieldset>
        <legend className="label">Target</legend>
        <div className="flex gap-4 text-sm">
          {(
            [
              ["devices", "Devices"],
              ["ous", "OUs"],
              ["all", "Whole organization"],
            ] as const
          ).map(([value, label]) => (
            <label key={value} className="flex items-center gap-1.5">
              <input type="radio" name="targetKind" value={value} checked={targetKind === value} onChange={() => setTargetKind(value)} /> {label}
            </label>
          ))}
        </div>
      </fieldset>
      {targetKind !== "all" && (
        <div className="mt-2">
          <label htmlFor="issue-names" className="label">
            {targetKind === "devices" ? "Device names" : "OU names"}
          </label>
          <textarea
            id="issue-names"
            name="targetNames"
            rows={2}
            defaultValue={initial.targetNames}
            className="input font-mono"
            placeholder={targetKind === "devices" ? "fw-ams-01, fw-ams-02" : ous.slice(0, 2).join(", ") || "emea-branches"}
            aria-invalid={invalid("targetNames")}
            aria-describedby="issue-names-hint"
          />
          <p id="issue-names-hint" className="mt-1 text-xs text-slate-500">
            Separate names with commas or spaces.{targetKind === "ous" && ous.length > 0 && ` OUs: ${ous.join(", ")}.`}
          </p>
        </div>
      )}
      <FieldError state={state} name="targetNames" />

      <div className="mt-4 flex items-end gap-2">
        <div className="w-28">
          <label htmlFor="issue-ttl" className="label">
            Time to live
          </label>
          <input id="issue-ttl" name="ttlValue" type="number" min={1} step="any" defaultValue={initial.ttlValue} className="input" aria-invalid={invalid("ttlSeconds")} />
        </div>
        <select name="ttlUnit" aria-label="Time to live unit" defaultValue={initial.ttlUnit} className="input w-28">
          <option value="minutes">minutes</option>
          <option value="hours">hours</option>
          <option value="days">days</option>
        </select>
      </div>
      <p className="mt-1 text-xs text-slate-500">Between 1 minute and 30 days; a task the device has not taken by then expires.</p>
      <FieldError state={state} name="ttlSeconds" />
      <FieldError state={state} name="ttlValue" />

      <RolloutInputs state={state} initial={initial.rollout} />
    </div>
  );
}

/**
 * A random key naming one submission. getRandomValues rather than randomUUID: the latter
 * exists only in secure contexts, and the console may be served over plain http on a LAN.
 */
function newSubmissionKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Issue one type to devices, OUs or the whole organization, now or at a time. */
export function IssueForm({ ous }: { ous: string[] }) {
  const [state, action, pending] = useActionState(issueTaskAction, undefined);
  // The key of the submission in flight or last failed, and the result shown when it was made.
  const submission = useRef<{ key: string; madeAt: typeof state } | null>(null);
  const [when, setWhen] = useState<"now" | "later">("now");
  const [localTime, setLocalTime] = useState("");

  // Submits without React's automatic form reset (see app/_lib/submit.ts), with a key naming
  // the submission: a double click or a retry after a lost answer sends the same key, and the
  // server issues once. Made here, not at render: the server's render has no key to give,
  // and a success shown since the key was made means the next submission is a new one.
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const formData = new FormData(e.currentTarget, (e.nativeEvent as SubmitEvent).submitter);
    const held = submission.current;
    const key = !held || (state?.ok && state !== held.madeAt) ? newSubmissionKey() : held.key;
    if (key !== held?.key) submission.current = { key, madeAt: state };
    formData.set("idempotencyKey", key);
    startTransition(() => action(formData));
  };

  return (
    <form onSubmit={onSubmit} className="grid gap-4 p-4 md:grid-cols-2" aria-label="Issue task">
      <div>
        <TypeInputs state={state} />
        <fieldset className="mt-4">
          <legend className="label">When</legend>
          <div className="flex flex-wrap items-center gap-4 text-sm">
            <label className="flex items-center gap-1.5">
              <input type="radio" name="when" value="now" checked={when === "now"} onChange={() => setWhen("now")} /> Now
            </label>
            <label className="flex items-center gap-1.5">
              <input type="radio" name="when" value="later" checked={when === "later"} onChange={() => setWhen("later")} /> At
            </label>
            <input
              type="datetime-local"
              aria-label="Run at (your local time)"
              disabled={when !== "later"}
              value={localTime}
              onChange={(e) => setLocalTime(e.target.value)}
              className="input w-56"
            />
            {/* The browser knows the admin's time zone; the server receives an absolute time. */}
            <input type="hidden" name="scheduledAt" value={localTime ? new Date(localTime).toISOString() : ""} />
          </div>
          <FieldError state={state} name="scheduledAt" />
        </fieldset>
      </div>

      <TargetInputs state={state} ous={ous} />

      <div className="flex items-center gap-3 md:col-span-2">
        <button type="submit" className="btn btn-primary" disabled={pending}>
          {pending ? "Issuing…" : "Issue task"}
        </button>
        {state?.ok && (
          <p role="status" className="text-sm text-emerald-700">
            {state.data.replayed ? "Already issued" : "Issued"} {state.data.total} task{state.data.total === 1 ? "" : "s"} ·{" "}
            <Link className="font-medium underline" href={state.data.total === 1 ? `/tasks/${state.data.first}` : `/tasks?fanout=${state.data.fanout}`}>
              {state.data.total === 1 ? `open ${state.data.first}` : `fan-out ${state.data.fanout}`}
            </Link>
          </p>
        )}
        {state && !state.ok && (
          <p role="alert" className="text-sm text-rose-700">
            {state.message}
          </p>
        )}
      </div>
    </form>
  );
}
