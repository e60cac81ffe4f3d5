import type { Namespace, Socket } from "socket.io";
import { z } from "zod";
import { storableText } from "../validation";
import type { Db } from "../../db/client";
import { breathe, pacer, withTransaction } from "../../db/transaction";
import type { Task } from "../../db/schema";
import { reserveSeqs, SEQ_BLOCK } from "../devices/connection";
import { metrics } from "../server/metrics";
import { subscribe } from "../events";
import { dispatchable, pausedAmong, pendingForDevices, refuseTask, releasedByResume, waitingOnNode } from "../tasks/agent-verbs";
import type { ClusterLink } from "../server/cluster";
import { envelopeText, signBatch, signText, type Envelope, type Proof, type Protocol, type TaskMessage } from "./envelope";
import type { ServerKey } from "./keys";
import { TickBatch } from "./batch";
import type { AgentMoves } from "./moves";

export const ACK_TIMEOUT_MS = 10_000;
/**
 * Tasks read, signed and sent per turn of the event loop, and the largest batch one
 * signature covers (protocol 2). Batches are numbered one after another and sent in that
 * order, so they reach a device in the order of their sequence numbers.
 */
export const DISPATCH_BATCH = 100;
/**
 * Due tasks read per query. Reads go one after another: a 100,000-task fan-out costs 200 reads
 * in a row, not 1,000 at once that would hold every pooled connection (PostgreSQL) while the
 * agents' results wait for one.
 */
const DISPATCH_READ = 500;
/** Tries for a batch of due tasks before they are left to the devices' next connects. */
const DISPATCH_ATTEMPTS = 3;
/**
 * Several nodes: every `sweepMs` (TASKWIRE_DISPATCH_SWEEP_MS) each node looks for tasks still
 * PENDING that long after they were due on a device connected to it (a hint lost, an
 * acknowledgement that never came), and sends them again, at most SWEEP_LIMIT at a time.
 */
const SWEEP_LIMIT = 1_000;

const ackSchema = z.union([
  z.object({ accepted: z.literal(true) }),
  z.object({ accepted: z.literal(false), reason: z.string().min(1).max(1000).transform(storableText) }),
]);

export const deviceRoom = (deviceId: string) => `device:${deviceId}`;

/**
 * Sends tasks to agents the moment they are due. Due tasks reach it as PENDING transitions
 * (creation, a scheduled task firing); they are gathered and read DISPATCH_READ at a time,
 * then signed and sent DISPATCH_BATCH at a time, a turn of the event loop between batches, so
 * a 10,000-device fan-out costs a handful of queries and never holds the loop for long. On one
 * node, a task whose device has no connection here is left for its connect. Acknowledgements arriving
 * together are recorded in one transaction.
 *
 * On several nodes a task is due wherever it was made (an API call on node A, node B's
 * clock), and its device's socket is on one node: the node that finds no socket here hands
 * the task ids to the node the device row names (`cluster.send`, batched), which reads and
 * sends them as its own. A sweep re-sends what a lost hint left waiting.
 */
export class Dispatcher {
  /** Due task ids, and whether this node may hand them on (not if they were handed to it). */
  private queued: { id: number; forward: boolean }[] = [];
  private draining = false;
  /** The end of the chain of batches being signed and sent, in the order of their numbers. */
  private sending: Promise<void> = Promise.resolve();
  /** The end of the chain of batches being numbered: one at a time, each queued to send as it is numbered. */
  private numbering: Promise<unknown> = Promise.resolve();
  /**
   * The sequence numbers this node holds for each device connected here: `next` is the next
   * to send, `last` the last reserved (none while `next` > `last`); `since` names the
   * connection they belong to. A connection opened here starts with none: the device may have
   * been through another node since, which numbered above what this one held. Its numbers come
   * from the block its connect reserved (markOnline), or when they run out from a batch's
   * reservation (reserveSeqs), and go when its last connection here closes.
   */
  private readonly seqs = new Map<string, { next: number; last: number; since: number }>();
  private connections = 0;
  private stopped = false;
  private readonly retries = new Set<NodeJS.Timeout>();
  private unsubscribe: (() => void) | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly nsp: Namespace,
    private readonly key: ServerKey,
    private readonly moves: AgentMoves,
    private readonly cluster?: ClusterLink,
    private readonly sweepMs = 15_000,
  ) {}

  start(): void {
    this.unsubscribe = subscribe((e) => {
      // Every node sends what a resume released to the devices connected to it.
      if (e.kind === "fanout.changed" && e.change === "resumed") return void this.sendReleased(e.fanoutId);
      if (e.kind !== "task.transition" || e.to !== "PENDING") return;
      // One node: an agent not connected here is not connected anywhere; it gets the task on
      // connect (sendPending). Several: it may be connected to another node.
      if (!this.cluster && !this.socketsOf(e.deviceId).length) return;
      this.enqueue(e.taskId, true);
    });
    if (!this.cluster) return;
    this.cluster.on("send", (ids) => {
      for (const id of ids) this.enqueue(id, false);
    });
    // Hints were lost (a listener reconnected): whatever waits on this node's devices goes now,
    // however recently it was due. A task already on its way arrives twice, which an agent
    // acknowledges again and does once (docs/agent-protocol.md).
    this.cluster.on("resync", () => void this.sweep(new Date()));
    this.sweeper = setInterval(() => void this.sweep(), this.sweepMs);
    this.sweeper.unref();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    clearInterval(this.sweeper);
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
  }

  /**
   * A connection of a device opened here; returns the number that names it (for `grant`),
   * which the socket keeps: a task numbered for an earlier connection never goes on a later
   * one, whose device may have been through another node since.
   */
  opened(socket: Socket, deviceId: string): number {
    const since = ++this.connections;
    (socket.data as { connection?: number }).connection = since;
    this.seqs.set(deviceId, { next: 1, last: 0, since });
    return since;
  }

  /** A connection of the device closed here: with none left, the numbers held for it go. */
  closed(deviceId: string): void {
    if (!this.socketsOf(deviceId).length) this.seqs.delete(deviceId);
  }

  /** The block of SEQ_BLOCK numbers up to `last` that connection `since`'s connect reserved (markOnline). */
  grant(deviceId: string, since: number, last: number): void {
    this.take(deviceId, since, last - SEQ_BLOCK + 1, last);
  }

  /**
   * Numbers `first`…`last`, reserved for connection `since` of the device, become the ones it
   * holds, if that is still its newest connection here and nothing above `first` was handed
   * out: a connection that came or went meanwhile may follow another node's numbers above
   * them, and numbers never go back.
   */
  private take(deviceId: string, since: number, first: number, last: number): void {
    const held = this.seqs.get(deviceId);
    if (held?.since === since && first >= held.next) Object.assign(held, { next: first, last });
  }

  /**
   * Every waiting task of a device that just connected, oldest first; rejects if the database
   * fails. The devices that connect together are read, numbered and signed together.
   */
  async sendPending(deviceId: string): Promise<void> {
    await (await this.connects.add(deviceId)).sent;
  }

  /**
   * Resolves once the batch is read and numbered, to its sending (wrapped: a promise handed on
   * would be awaited). DISPATCH_BATCH devices at most: their whole backlog is one read, and a
   * fleet back from a long outage may have many tasks waiting each.
   */
  private readonly connects = new TickBatch(
    async (deviceIds: string[]) => {
      const { sent } = await this.send(await pendingForDevices({ db: this.db }, deviceIds));
      sent.catch(() => {});
      return deviceIds.map(() => ({ sent }));
    },
    { max: DISPATCH_BATCH },
  );

  /** The waiting tasks of a resumed fan-out whose agents are connected here. Never thrown. */
  private async sendReleased(fanoutId: number): Promise<void> {
    try {
      // A page at a time, like every other read of the dispatcher: 100,000 released tasks are
      // never read, or sent, in one stretch.
      for (let after = 0; !this.stopped; ) {
        const page = await releasedByResume({ db: this.db }, fanoutId, { nodeId: this.cluster?.nodeId, after, limit: DISPATCH_READ });
        await (await this.send(page.filter((t) => this.socketsOf(t.deviceId).length))).sent;
        if (page.length < DISPATCH_READ) break;
        after = page[page.length - 1].id;
        await breathe();
      }
    } catch (e) {
      console.error(`Sending the tasks fan-out ${fanoutId} released failed; they go on each device's next connect`, e);
    }
  }

  private enqueue(id: number, forward: boolean): void {
    this.queued.push({ id, forward });
    if (this.draining) return;
    this.draining = true;
    void breathe().then(() => this.drain());
  }

  /**
   * Reads and sends what is queued, one read after another, until the queue is empty. The
   * next read is read and numbered while the one before is signed and sent. What is queued
   * while the last one is sent is drained too: until this returns, `enqueue` counts on it.
   */
  private async drain(): Promise<void> {
    let sending: Promise<void> = Promise.resolve();
    try {
      while (!this.stopped) {
        if (!this.queued.length) {
          await sending;
          if (!this.queued.length) break;
        }
        const { sent } = await this.dispatch(this.queued.splice(0, DISPATCH_READ), 1);
        await sending;
        sending = sent;
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Reads and numbers a batch of due tasks; resolves, once they are numbered, to their
   * sending. A batch the database could not read or number (a lock held too long, a full
   * disk) is tried again a few times; after that its tasks stay PENDING and go on each
   * device's next connect. Never rejects, nor does its sending: this runs outside any caller
   * that could answer for it.
   */
  private async dispatch(batch: { id: number; forward: boolean }[], attempt: number): Promise<{ sent: Promise<void> }> {
    const failed = (e: unknown) => {
      const last = attempt >= DISPATCH_ATTEMPTS;
      console.error(`Dispatching ${batch.length} tasks failed (attempt ${attempt} of ${DISPATCH_ATTEMPTS})${last ? "; they go on each device's next connect" : ""}`, e);
      if (last || this.stopped) return;
      const timer = setTimeout(() => {
        this.retries.delete(timer);
        void this.dispatch(batch, attempt + 1);
      }, attempt * 1_000);
      timer.unref();
      this.retries.add(timer);
    };
    try {
      const due = await dispatchable({ db: this.db }, batch.map((b) => b.id));
      const forwardable = new Set(batch.filter((b) => b.forward).map((b) => b.id));
      const here: Task[] = [];
      const elsewhere = new Map<string, number[]>();
      for (const { task, nodeId } of due) {
        if (this.socketsOf(task.deviceId).length) here.push(task);
        else if (this.cluster && nodeId && nodeId !== this.cluster.nodeId && forwardable.has(task.id)) (elsewhere.get(nodeId) ?? elsewhere.set(nodeId, []).get(nodeId)!).push(task.id);
      }
      for (const [nodeId, ids] of elsewhere) this.cluster!.send(nodeId, ids);
      const { sent } = await this.send(here);
      return { sent: sent.catch(failed) };
    } catch (e) {
      failed(e);
      return { sent: Promise.resolve() };
    }
  }

  /** Several nodes: what still waits on this node's devices, due `before` (well before now, unless hints were lost), goes again. */
  private async sweep(before = new Date(Date.now() - this.sweepMs)): Promise<void> {
    if (this.stopped || !this.cluster) return;
    try {
      const waiting = await waitingOnNode({ db: this.db }, this.cluster.nodeId, before, SWEEP_LIMIT);
      await (await this.send(waiting.filter((t) => this.socketsOf(t.deviceId).length))).sent;
    } catch (e) {
      console.error("Sweeping for tasks left waiting failed; trying again later", e);
    }
  }

  /**
   * Numbers, signs and sends tasks DISPATCH_BATCH at a time, a turn of the event loop between
   * batches; resolves once all are numbered, to their sending. One batch is numbered while
   * the one before is signed and sent.
   *
   * `tasks` were just read, and every read leaves out what a pause holds: the first batch is
   * numbered as read. Each later one is asked about pauses again just before it is numbered,
   * so that pausing a fan-out while its dispatch is under way holds back what is left.
   */
  private async send(tasks: Task[]): Promise<{ sent: Promise<void> }> {
    let sending: Promise<void> = Promise.resolve();
    for (let i = 0; i < tasks.length; i += DISPATCH_BATCH) {
      if (i > 0) await breathe();
      const { sent } = await this.sendBatch(tasks.slice(i, i + DISPATCH_BATCH), i > 0);
      // Marked handled now, awaited by whoever waits for the whole: a batch that fails to go
      // out fails the whole, as before, once the batch before it is out.
      sent.catch(() => {});
      await sending;
      sending = sent;
    }
    return { sent: sending };
  }

  /**
   * Numbers a batch (of its fan-outs, those paused since it was read left out); resolves, once
   * it is numbered, to its sending. Batches are numbered one at a time, each queued to send
   * as soon as it is numbered: the order of the numbers is the order of sending.
   */
  private async sendBatch(batch: Task[], readEarlier: boolean): Promise<{ sent: Promise<void> }> {
    const paused = readEarlier ? await pausedAmong({ db: this.db }, [...new Set(batch.flatMap((t) => (t.fanoutId === null ? [] : [t.fanoutId])))]) : new Set<number>();
    const tasks = paused.size ? batch.filter((t) => t.fanoutId === null || !paused.has(t.fanoutId)) : batch;
    if (!tasks.length) return { sent: Promise.resolve() };
    const step = this.numbering.then(async () => {
      const numbered = await this.number(tasks);
      // Signing and sending take the loop in timed stretches (a machine under load takes
      // longer over each).
      const sent = this.sending.then(() => this.sendNumbered(numbered));
      this.sending = sent.catch(() => {});
      return { sent };
    });
    this.numbering = step.catch(() => {});
    return step;
  }

  /**
   * Each task's sequence number, from the numbers held for its device; a device with too few
   * left has a new block reserved, its batch's devices in one statement (on PostgreSQL its
   * index scan takes the rows in key order: two nodes' batches that share devices lock them
   * alike). Most batches reserve nothing: the connect reserved a block. Tasks of a device with
   * no connection here, or deleted, are left out: they go on its next connect.
   */
  private async number(tasks: Task[]): Promise<Numbered[]> {
    const byDevice = new Map<string, Task[]>();
    for (const t of tasks) if (this.seqs.has(t.deviceId)) (byDevice.get(t.deviceId) ?? byDevice.set(t.deviceId, []).get(t.deviceId)!).push(t);
    const left = (held: { next: number; last: number } | undefined) => (held ? held.last - held.next + 1 : 0);
    const short = new Map<string, { n: number; since: number }>();
    for (const [deviceId, list] of byDevice) {
      const held = this.seqs.get(deviceId)!;
      if (left(held) < list.length) short.set(deviceId, { n: Math.max(list.length, SEQ_BLOCK), since: held.since });
    }
    if (short.size) {
      const first = await withTransaction({ db: this.db }, (tx) => reserveSeqs(tx, new Map([...short].map(([id, { n }]) => [id, n]))));
      // What is not taken (a deleted device, a connection since) is numbered by the connect's
      // own block or the next batch's reservation.
      for (const [deviceId, { n, since }] of short) {
        const from = first.get(deviceId);
        if (from !== undefined) this.take(deviceId, since, from, from + n - 1);
      }
    }
    const numbered: Numbered[] = [];
    for (const [deviceId, list] of byDevice) {
      const held = this.seqs.get(deviceId);
      if (!held || left(held) < list.length) continue;
      for (const task of list) numbered.push({ task, seq: held.next++, since: held.since });
    }
    return numbered;
  }

  /**
   * Signs and sends numbered tasks, in timed stretches of the loop, to their devices' sockets
   * here that were open when they were numbered: a connection opened since gets them from its
   * own connect (they are still PENDING), numbered from its own block.
   */
  private async sendNumbered(numbered: Numbered[]): Promise<void> {
    const pace = pacer();
    const out = numbered.flatMap(({ task, seq, since }) => {
      const sockets = this.socketsOf(task.deviceId).filter((s) => connectionOf(s) <= since);
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
          this.moves.accept(task.deviceId, task.code).catch(failed);
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

/** A task, its sequence number, and the connection of its device whose numbers it took (Dispatcher.seqs). */
type Numbered = { task: Task; seq: number; since: number };

/** The number of the socket's connection (Dispatcher.opened). */
const connectionOf = (socket: Socket): number => (socket.data as { connection?: number }).connection ?? 0;

/** The protocol the agent announced at its handshake (lib/agents/namespace.ts). */
const protocolOf = (socket: Socket): Protocol => (socket.data as { protocol?: Protocol }).protocol ?? 1;
