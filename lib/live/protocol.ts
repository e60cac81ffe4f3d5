import type { FanoutOutcome } from "../../rules/fanouts";
import type { TaskStatus, TaskType } from "../../rules/tasks";

// The browser live channel's messages, shared by the server (lib/live/namespace.ts) and the
// client islands. Dates travel as ISO strings. No zod here: the islands import this file, and
// the server's parser lives in watch-schema.ts.

export const LIVE_NAMESPACE = "/live";
/** Coalescing window: at most this many messages per second per subscription. */
export const LIVE_INTERVAL_MS = 200;
/** Rows sent per message at most; past this the client re-reads what it shows. */
export const LIVE_MAX_ROWS = 300;

/**
 * The organization's whole stream, one task, one fan-out (its summary and its tasks), or the
 * organization's audit trail (ADMINs only: an "audit" message says new rows are there to read).
 */
export type WatchTarget = { org: true } | { task: string } | { fanout: string } | { audit: true };
/**
 * `since`: when the page began reading what it shows (ms since the epoch). A patch that left
 * between that read and this watch never reached the page, so the ack says `stale` when the
 * organization's changes (its audit rows, for an audit watch) were read for sending after it,
 * and the page reads itself again once.
 */
export type WatchRequest = WatchTarget & { since?: number };
export type WatchAck = { ok: true; stale?: boolean } | { ok: false; error: "invalid" | "not_found" | "unauthorized" | "rate_limited" | "internal" };

export type LiveTaskRow = {
  id: number;
  code: string;
  type: TaskType;
  status: TaskStatus;
  device: string;
  organization: string;
  fanout: string | null;
  message: string | null;
  scheduledAt: string | null;
  /** Its wave in a staged rollout, in words ("wave 3 of 5"); null outside one. */
  wave: string | null;
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
  startedAt: string | null;
  finishedAt: string | null;
};

export type LiveFanout = {
  code: string;
  type: TaskType;
  total: number;
  createdAt: string;
  lastFinishedAt: string | null;
  counts: Record<TaskStatus, number>;
  outcome: FanoutOutcome;
  /** Why it is paused (an admin, or its breaker), while it is. */
  pauseReason: string | null;
  /** A staged rollout's wave, in words (rules/rollouts.ts waveLine); null for one issued all at once. */
  wave: string | null;
};

/**
 * Sent without a body when patches may have been lost on the server's side (on several nodes,
 * its cluster listener reconnected): every page re-reads what it shows, as after a reconnect.
 */
export const LIVE_CATCH_UP = "catch-up";

/** Something changed that has no rows to patch: the page showing it reads it again. */
export type LiveSignal = { topic: "audit" } | { topic: "schedule"; id: number };

/**
 * One coalesced message: the latest state of every task changed since the last one. `at` is
 * when its reads began: a page read after it already shows everything it carries. `sent` is
 * when it left, at least one interval after the one before it (its reads may start earlier).
 */
export type LivePatch = { at: string; sent: string; tasks: LiveTaskRow[]; truncated: boolean; fanouts: LiveFanout[] };
