import type { ChildProcess } from "node:child_process";

// Typed requests to a forked helper over IPC: each message sent with an id is answered by one
// reply carrying it, `{ id, ok, result | error }`; a message without an id is an event.

type Reply = { id?: number; ok?: boolean; result?: unknown; error?: string; event?: string };
export type IpcEvent = { event: string; [k: string]: unknown };

export class IpcRequests {
  private nextId = 1;
  private readonly waiting = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();

  /** `what` names the helper in the errors of requests it leaves unanswered by exiting. */
  constructor(
    private readonly child: ChildProcess,
    what: string,
    onEvent: (m: IpcEvent) => void = () => {},
  ) {
    child.on("message", (m: Reply) => {
      if (m.event) return onEvent(m as IpcEvent);
      const w = m.id === undefined ? undefined : this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id!);
      if (m.ok) w.ok(m.result);
      else w.fail(new Error(m.error));
    });
    child.on("exit", (code) => {
      for (const w of this.waiting.values()) w.fail(new Error(`${what} exited ${code}`));
      this.waiting.clear();
    });
  }

  call<T>(message: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((ok, fail) => {
      this.waiting.set(id, { ok: ok as (v: unknown) => void, fail });
      this.child.send({ id, ...message });
    });
  }
}
