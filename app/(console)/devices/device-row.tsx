"use client";

import Link from "next/link";
import { useActionState, useId, useState } from "react";
import type { ActionResult } from "@/app/_lib/action-result";
import { deletedName, deviceAllows, type DeviceStatus } from "@/rules/devices";
import {
  approveDeviceAction,
  deleteDeviceAction,
  disableDeviceAction,
  enableDeviceAction,
  issueDeviceTaskAction,
  renameDeviceAction,
  type IssuedDeviceTask,
} from "./actions";

type Intent = "approve" | "enable" | "disable" | "rename" | "delete" | "SYNC" | "RESTART" | "PING";
type Outcome = { intent: Intent; result: ActionResult | ActionResult<IssuedDeviceTask> } | undefined;

const ACTIONS: Record<Intent, (fd: FormData) => Promise<ActionResult | ActionResult<IssuedDeviceTask>>> = {
  approve: approveDeviceAction,
  enable: enableDeviceAction,
  disable: disableDeviceAction,
  rename: renameDeviceAction,
  delete: deleteDeviceAction,
  SYNC: issueDeviceTaskAction,
  RESTART: issueDeviceTaskAction,
  PING: issueDeviceTaskAction,
};

const DONE: Partial<Record<Intent, string>> = { approve: "Approved", enable: "Enabled", disable: "Disabled", rename: "Renamed" };

async function dispatch(_prev: Outcome, fd: FormData): Promise<Outcome> {
  const intent = fd.get("intent") as Intent;
  if (!(intent in ACTIONS)) return undefined;
  if (intent === "SYNC" || intent === "RESTART" || intent === "PING") fd.set("type", intent);
  return { intent, result: await ACTIONS[intent](fd) };
}

export type RowDevice = { id: string; name: string; status: DeviceStatus };

/**
 * One registry row for users who may change devices. The server renders the cells; this
 * island adds an Actions toggle whose panel (a second row) only exists while open, so
 * 250 rows cost 250 buttons, not 250 forms.
 */
export function DeviceRow({ device, columns, children }: { device: RowDevice; columns: number; children: React.ReactNode }) {
  const [open, setOpen] = useState(false);
  const panelId = useId();
  return (
    <>
      <tr className={open ? "bg-slate-50" : "bg-white hover:bg-slate-50"} data-device={device.name}>
        {children}
        {/* On a narrow screen the table scrolls sideways: the toggle stays at its right edge, in reach. */}
        <td className="bg-inherit px-4 py-2 text-right max-md:sticky max-md:right-0">
          <button
            type="button"
            className="btn btn-sm"
            aria-expanded={open}
            aria-controls={open ? panelId : undefined}
            aria-label={`Actions for ${device.name}`}
            onClick={() => setOpen((o) => !o)}
          >
            Actions{" "}
            <span aria-hidden className={`text-slate-400 ${open ? "rotate-180" : ""}`}>
              ▾
            </span>
          </button>
        </td>
      </tr>
      {open && (
        <tr id={panelId} className="bg-slate-50">
          <td colSpan={columns} className="px-4 pt-1 pb-4">
            <DevicePanel device={device} onClose={() => setOpen(false)} />
          </td>
        </tr>
      )}
    </>
  );
}

function Failure({ outcome, intents }: { outcome: Outcome; intents: Intent[] }) {
  if (!outcome || outcome.result.ok || !intents.includes(outcome.intent)) return null;
  const { code, message, fieldErrors } = outcome.result;
  // Bad input is told by its field's own message: the field is right above.
  const shown = code === "invalid" && fieldErrors ? (Object.values(fieldErrors)[0]?.[0] ?? message) : message;
  return (
    <p role="alert" className="field-error">
      {shown}
    </p>
  );
}

function DevicePanel({ device, onClose }: { device: RowDevice; onClose: () => void }) {
  const [outcome, action, pending] = useActionState(dispatch, undefined);
  // Controlled: React resets a form's uncontrolled fields after every action, errors included.
  const [newName, setNewName] = useState(device.name);
  const [host, setHost] = useState("");
  const [count, setCount] = useState("4");
  const ids = useId();
  const { name, status } = device;
  const taskDone = outcome?.result.ok && outcome.result.data ? (outcome.result.data as IssuedDeviceTask) : null;
  const statusDone = outcome?.result.ok && DONE[outcome.intent];

  return (
    <div
      // As wide as the screen on a phone, and held in view while the table scrolls.
      className="flex flex-wrap items-start gap-x-8 gap-y-4 rounded-md border border-slate-200 bg-white p-3 shadow-sm max-md:sticky max-md:left-4 max-md:max-w-[calc(100vw-4rem)]"
      role="group"
      aria-label={`Actions for ${name}`}
      onKeyDown={(e) => e.key === "Escape" && onClose()}
    >
      <section aria-label="Device" className="space-y-2">
        <h3 className="label">Device</h3>
        <form action={action} className="flex flex-wrap gap-2">
          <input type="hidden" name="id" value={device.id} />
          {deviceAllows(status, "approve") && (
            <button name="intent" value="approve" className="btn btn-sm btn-primary" disabled={pending} aria-label={`Approve ${name}`}>
              Approve
            </button>
          )}
          {deviceAllows(status, "enable") && (
            <button name="intent" value="enable" className="btn btn-sm" disabled={pending} aria-label={`Enable ${name}`}>
              Enable
            </button>
          )}
          {deviceAllows(status, "disable") && (
            <button name="intent" value="disable" className="btn btn-sm" disabled={pending} aria-label={`Disable ${name}`}>
              Disable
            </button>
          )}
          <button
            name="intent"
            value="delete"
            className="btn btn-sm btn-danger"
            disabled={pending}
            aria-label={`Delete ${name}`}
            onClick={(e) => {
              const consequence =
                `Delete ${name}?\n\nIts agent token stops working and it shows as ${deletedName(name)} in the task list. ` +
                "Its scheduled and pending tasks are cancelled, and a task it is running is marked failed. This cannot be undone.";
              if (!confirm(consequence)) e.preventDefault();
            }}
          >
            Delete
          </button>
        </form>
        <Failure outcome={outcome} intents={["approve", "enable", "disable", "delete"]} />
        {statusDone && outcome.intent !== "rename" && (
          <p role="status" className="text-xs text-emerald-700">
            {statusDone}.
          </p>
        )}
        <form action={action} className="flex flex-wrap items-end gap-2">
          <input type="hidden" name="id" value={device.id} />
          <div>
            <label htmlFor={`${ids}-name`} className="label">
              New name
            </label>
            <input
              id={`${ids}-name`}
              name="name"
              value={newName}
              onChange={(e) => setNewName(e.target.value)}
              required
              maxLength={64}
              className="input w-48 font-mono"
              aria-invalid={outcome?.intent === "rename" && !outcome.result.ok ? true : undefined}
            />
          </div>
          <button name="intent" value="rename" className="btn" disabled={pending || newName.trim() === name} aria-label={`Rename ${name}`}>
            Rename
          </button>
        </form>
        <Failure outcome={outcome} intents={["rename"]} />
        {statusDone && outcome.intent === "rename" && (
          <p role="status" className="text-xs text-emerald-700">
            Renamed.
          </p>
        )}
      </section>

      <section aria-label="Tasks" className="space-y-2">
        <h3 className="label">Tasks</h3>
        {deviceAllows(status, "tasks") ? (
          <>
            <form action={action} className="flex flex-wrap gap-2">
              <input type="hidden" name="device" value={name} />
              <button name="intent" value="SYNC" className="btn btn-sm" disabled={pending} aria-label={`Sync ${name}`}>
                Sync
              </button>
              <button name="intent" value="RESTART" className="btn btn-sm" disabled={pending} aria-label={`Restart ${name}`}>
                Restart
              </button>
            </form>
            <form action={action} className="flex flex-wrap items-end gap-2">
              <input type="hidden" name="device" value={name} />
              <div>
                <label htmlFor={`${ids}-host`} className="label">
                  Host
                </label>
                <input
                  id={`${ids}-host`}
                  name="host"
                  value={host}
                  onChange={(e) => setHost(e.target.value)}
                  required
                  maxLength={253}
                  placeholder="1.1.1.1"
                  className="input w-40 font-mono"
                />
              </div>
              <div>
                <label htmlFor={`${ids}-count`} className="label">
                  Count
                </label>
                <input
                  id={`${ids}-count`}
                  name="count"
                  type="number"
                  min={1}
                  max={1000}
                  value={count}
                  onChange={(e) => setCount(e.target.value)}
                  className="input w-20"
                />
              </div>
              <button name="intent" value="PING" className="btn" disabled={pending} aria-label={`Ping ${name}`}>
                Ping
              </button>
            </form>
            <Failure outcome={outcome} intents={["SYNC", "RESTART", "PING"]} />
            {taskDone && (
              <p role="status" className="text-sm text-emerald-700">
                Created {taskDone.type} task{" "}
                <Link href={`/tasks/${taskDone.code}`} className="font-mono font-semibold underline">
                  {taskDone.code}
                </Link>
              </p>
            )}
          </>
        ) : (
          <p className="max-w-56 text-xs text-slate-500">Only ENABLED devices take tasks{deviceAllows(status, "approve") ? ": approve it first." : "."}</p>
        )}
      </section>

      <p className="ml-auto max-w-64 self-end text-xs text-slate-500">
        Disabling or deleting a device cancels the tasks waiting for it.{pending && <span className="block text-slate-700">Working…</span>}
      </p>
    </div>
  );
}
