// Results the agent has produced but the server has not acknowledged yet. Kept until an
// `{ ok: true }` arrives (or the server says it will never take them), re-sent on every
// reconnect. Knows nothing about sockets: the agent gives it a `send` and a clock.
import { z } from "zod";
import type { ResultStatus } from "./work";

export interface TaskResult {
  code: string;
  status: ResultStatus;
  message: string;
}

/** What the server may answer to a `result` (protocol §4); anything else counts as no answer. */
export const resultAckSchema = z.union([
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);
export type ResultAck = z.infer<typeof resultAckSchema>;

/** Errors after which re-sending can never succeed: the result is dropped. */
export const FINAL_ERRORS = ["not_found", "final", "invalid"] as const;

export type Settlement = { outcome: "recorded" } | { outcome: "dropped"; error: string };

export interface OutboxOptions {
  /** Sends one result and resolves with the server's ack; rejects when no ack came (timeout, disconnect). */
  send: (result: TaskResult) => Promise<unknown>;
  isConnected: () => boolean;
  /** Called once per result when it leaves the outbox. */
  onSettled?: (result: TaskResult, settlement: Settlement) => void;
  /** Delay before trying again while still connected: short after rate_limited, longer after no answer. */
  retryDelayMs?: (reason: "rate_limited" | "no_answer") => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
}

export class Outbox {
  private readonly queue = new Map<string, TaskResult>();
  private flushing: Promise<void> | null = null;
  private again = false;
  private retryTimer: unknown = null;
  private closed = false;

  constructor(private readonly opts: OutboxOptions) {}

  get size(): number {
    return this.queue.size;
  }

  pending(): TaskResult[] {
    return [...this.queue.values()];
  }

  /**
   * Queues a result (one per task code: the latest wins) and tries to deliver it now —
   * unless a retry is already scheduled (the server asked us to slow down): it goes then.
   */
  add(result: TaskResult): Promise<void> {
    this.queue.set(result.code, result);
    if (this.retryTimer !== null) return Promise.resolve();
    return this.flush();
  }

  /**
   * Sends every queued result now (the agent calls this on every connect), oldest first, one at a time so a backlog after a long
   * disconnect does not burst past the server's per-connection rate limit.
   */
  flush(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.flushing) {
      // A result queued mid-flush must not wait for the next reconnect.
      this.again = true;
      return this.flushing;
    }
    this.cancelRetry();
    this.flushing = this.drain().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Stops retry timers; queued results stay readable through pending(). */
  close(): void {
    this.closed = true;
    this.cancelRetry();
  }

  private async drain(): Promise<void> {
    do {
      this.again = false;
      for (const result of [...this.queue.values()]) {
        if (this.closed || !this.opts.isConnected()) return;
        if (this.queue.get(result.code) !== result) continue;
        let raw: unknown;
        try {
          raw = await this.opts.send(result);
        } catch {
          // No ack: keep it. The reconnect flushes again; if the socket is still up, retry later.
          this.scheduleRetry("no_answer");
          return;
        }
        const parsed = resultAckSchema.safeParse(raw);
        const ack: ResultAck = parsed.success ? parsed.data : { ok: false, error: "unreadable answer" };
        if (ack.ok) {
          this.settle(result, { outcome: "recorded" });
        } else if ((FINAL_ERRORS as readonly string[]).includes(ack.error)) {
          this.settle(result, { outcome: "dropped", error: ack.error });
        } else {
          // rate_limited, or an answer we do not understand: keep the result, try again later.
          this.scheduleRetry(ack.error === "rate_limited" ? "rate_limited" : "no_answer");
          return;
        }
      }
    } while (this.again && this.queue.size > 0);
  }

  private settle(result: TaskResult, settlement: Settlement) {
    // A newer result for the same code may have been queued while this one was in flight.
    if (this.queue.get(result.code) === result) this.queue.delete(result.code);
    this.opts.onSettled?.(result, settlement);
  }

  private scheduleRetry(reason: "rate_limited" | "no_answer") {
    if (this.closed || this.retryTimer !== null || !this.opts.isConnected()) return;
    const delay = this.opts.retryDelayMs?.(reason) ?? (reason === "rate_limited" ? 1_000 : 30_000);
    const setTimer = this.opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.retryTimer = setTimer(() => {
      this.retryTimer = null;
      void this.flush();
    }, delay);
  }

  private cancelRetry() {
    if (this.retryTimer === null) return;
    const clearTimer = this.opts.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>));
    clearTimer(this.retryTimer);
    this.retryTimer = null;
  }
}
