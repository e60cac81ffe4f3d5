import type { Namespace, Socket } from "socket.io";
import { z } from "zod";
import type { Db } from "../../db/client";
import { breathe, pacer, withTransaction } from "../../db/transaction";
import type { Task } from "../../db/schema";
import { reserveSeq } from "../devices/connection";
import { metrics } from "../server/metrics";
import { subscribe } from "../events";
import { acceptTasks, dispatchable, pendingForDevice, refuseTask } from "../tasks/agent-verbs";
import { TickBatch } from "./batch";
import { envelopeText, signBatch, signText, type Envelope, type Proof, type Protocol, type TaskMessage } from "./envelope";
import type { ServerKey } from "./keys";

export const ACK_TIMEOUT_MS = 10_000;
/**
 * Tasks read, signed and sent per turn of the event loop, and the largest batch one
 * signature covers (protocol 2). A batch is numbered in one transaction and sent at once, so
 * batches reach a device in the order of their sequence numbers.
 */
export const DISPATCH_BATCH = 100;
/** Tries for a batch of due tasks before they are left to the devices' next connects. */
const DISPATCH_ATTEMPTS = 3;

const ackSchema = z.union([
  z.object({ accepted: z.literal(true) }),
  z.object({ accepted: z.literal(false), reason: z.string().min(1).max(1000) }),
]);

export const deviceRoom = (deviceId: string) => `device:${deviceId}`;

/**
 * Sends tasks to agents the moment they are due. Due tasks reach it as PENDING transitions
 * (creation, a scheduled task firing); they are gathered and read, signed and sent
 * DISPATCH_BATCH at a time, one batch per turn of the event loop, so a 10,000-device fan-out
 * costs a handful of queries and never holds the loop for long. Acknowledgements arriving
 * together are recorded in one transaction.
 */
export class Dispatcher {
  private queued: number[] = [];
  private flushQueued = false;
  /** The end of the chain of batches being signed and sent, in the order of their numbers. */
  private sending: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly retries = new Set<NodeJS.Timeout>();
  private unsubscribe: (() => void) | undefined;
  private readonly accepts: TickBatch<{ deviceId: string; code: string }, boolean>;

  constructor(
    private readonly db: Db,
    private readonly nsp: Namespace,
    private readonly key: ServerKey,
  ) {
    this.accepts = new TickBatch((items) => acceptTasks({ db: this.db }, items));
  }

  start(): void {
    this.unsubscribe = subscribe((e) => {
      if (e.kind === "task.transition" && e.to === "PENDING") this.enqueue(e.taskId);
    });
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
  }

  /** Every waiting task of a device that just connected, oldest first; rejects if the database fails. */
  async sendPending(deviceId: string): Promise<void> {
    await this.send(await pendingForDevice({ db: this.db }, deviceId));
  }

  private enqueue(taskId: number): void {
    this.queued.push(taskId);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    void breathe().then(() => {
      this.flushQueued = false;
      const ids = this.queued.splice(0, DISPATCH_BATCH);
      if (this.queued.length) this.scheduleFlush();
      void this.dispatch(ids, 1);
    });
  }

  /**
   * A batch the database could not read or number (a lock held too long, a full disk) is
   * tried again a few times; after that its tasks stay PENDING and go on each device's next
   * connect. Never thrown: this runs outside any caller that could answer for it.
   */
  private async dispatch(ids: number[], attempt: number): Promise<void> {
    try {
      await this.send(await dispatchable({ db: this.db }, ids));
    } catch (e) {
      const last = attempt >= DISPATCH_ATTEMPTS;
      console.error(`Dispatching ${ids.length} tasks failed (attempt ${attempt} of ${DISPATCH_ATTEMPTS})${last ? "; they go on each device's next connect" : ""}`, e);
      if (last || this.stopped) return;
      const timer = setTimeout(() => {
        this.retries.delete(timer);
        void this.dispatch(ids, attempt + 1);
      }, attempt * 1_000);
      timer.unref();
      this.retries.add(timer);
    }
  }

  /** Numbers, signs and sends tasks DISPATCH_BATCH at a time, a turn of the event loop between batches. */
  private async send(tasks: Task[]): Promise<void> {
    for (let i = 0; i < tasks.length; i += DISPATCH_BATCH) {
      if (i > 0) await breathe();
      await this.sendBatch(tasks.slice(i, i + DISPATCH_BATCH));
    }
  }

  private async sendBatch(tasks: Task[]): Promise<void> {
    const byDevice = new Map<string, Task[]>();
    for (const t of tasks) (byDevice.get(t.deviceId) ?? byDevice.set(t.deviceId, []).get(t.deviceId)!).push(t);
    // Sequence numbers are reserved in one transaction for the whole batch, the devices in id
    // order: two batches that share devices (on PostgreSQL, side by side) lock them alike.
    const firstSeq = await withTransaction({ db: this.db }, async (tx) => {
      const out = new Map<string, number>();
      for (const id of [...byDevice.keys()].sort()) out.set(id, await reserveSeq(tx, id, byDevice.get(id)!.length));
      return out;
    });
    const numbered: [Task, number][] = [];
    for (const [deviceId, list] of byDevice) {
      let seq = firstSeq.get(deviceId)!;
      for (const task of list) numbered.push([task, seq++]);
    }
    // Signing and sending take the loop in timed stretches (a machine under load takes longer
    // over each), and batches go out in the order their numbers were reserved.
    const sent = this.sending.then(async () => {
      const pace = pacer();
      const out = numbered.flatMap(([task, seq]) => {
        const sockets = this.socketsOf(task.deviceId);
        return sockets.length ? [{ task, seq, sockets, text: envelopeText(envelopeOf(task, seq)) }] : [];
      });
      // One signature for every task going to an agent that speaks protocol 2.
      const batched = out.filter((o) => o.sockets.some((s) => protocolOf(s) === 2));
      const batch = signBatch(batched.map((o) => o.text), this.key.privateKey);
      let next = 0;
      for (const o of out) {
        const proof = o.sockets.some((s) => protocolOf(s) === 2) ? batch.proofs[next++] : undefined;
        this.emit(o.task, o.seq, o.text, o.sockets, proof && { signature: batch.signature, proof });
        await pace();
      }
    });
    this.sending = sent.catch(() => {});
    await sent;
  }

  /** The device's sockets here: one, or two while a newcomer replaces its predecessor. */
  private socketsOf(deviceId: string): Socket[] {
    const out: Socket[] = [];
    for (const id of this.nsp.adapter.rooms.get(deviceRoom(deviceId)) ?? []) {
      const socket = this.nsp.sockets.get(id);
      if (socket) out.push(socket);
    }
    return out;
  }

  /** Sends a task to each of its device's sockets in the protocol that socket speaks; the first answer is the answer. */
  private emit(task: Task, seq: number, envelope: string, sockets: Socket[], batched: { signature: string; proof: Proof } | undefined): void {
    const plain = { code: task.code, type: task.type, payload: task.payload ?? null, expires_at: task.expiresAt.toISOString(), seq, envelope };
    let single: TaskMessage | undefined;
    let answered = false;
    if (sockets.length) metrics().dispatchSeconds.observe(Math.max(0, Date.now() - task.updatedAt.getTime()) / 1000);
    for (const socket of sockets) {
      const message: TaskMessage =
        protocolOf(socket) === 2 && batched ? { ...plain, ...batched } : (single ??= { ...plain, signature: signText(envelope, this.key.privateKey) });
      socket.timeout(ACK_TIMEOUT_MS).emit("task", message, (err: Error | null, response: unknown) => {
        // No answer in time: the task stays PENDING and goes again on the next connect.
        if (err || answered) return;
        const ack = ackSchema.safeParse(response);
        if (!ack.success) return;
        answered = true;
        const failed = (e: unknown) => console.error(`Recording the acknowledgement of ${task.code} failed`, e);
        if (ack.data.accepted) {
          this.accepts.add({ deviceId: task.deviceId, code: task.code }).catch(failed);
          return;
        }
        refuseTask({ db: this.db }, task.deviceId, task.code, ack.data.reason).catch(failed);
      });
    }
  }
}

const envelopeOf = (task: Task, seq: number): Envelope => ({
  code: task.code,
  type: task.type,
  payload: task.payload ?? null,
  device_id: task.deviceId,
  exp: Math.floor(task.expiresAt.getTime() / 1000),
  seq,
});

/** The protocol the agent announced at its handshake (lib/agents/namespace.ts). */
const protocolOf = (socket: Socket): Protocol => (socket.data as { protocol?: Protocol }).protocol ?? 1;
