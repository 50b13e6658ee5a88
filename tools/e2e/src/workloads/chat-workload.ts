// chat-realtime's share of the mixed load: a sender and a receiver in one room (the gateway
// balances them over the chat replicas), a steady message every interval. Afterwards every
// acknowledged message must be in the room's history and must have reached the live receiver once.
import { eventually } from '@redis-patterns/testkit';
import { ChatMember } from '../chat-client';
import type { Op } from './load-events';
import type { VerifyWindow, Workload, WorkloadContext } from './workload';

export interface ChatVerification {
  chatAcked: number;
  /** Acknowledged messages no longer in the room's history. */
  chatLost: number;
  chatLostBeforeKeep: number;
  /** Acknowledged messages the live member on the other replica never received. */
  chatUndelivered: number;
  chatDuplicates: number;
  /** Chat members disconnected on purpose by a stopping server (they reconnect by hand). */
  chatServerDisconnects: number;
}

export class ChatWorkload implements Workload<ChatVerification> {
  readonly ops: readonly Op[] = ['chat.send'];
  /** Acknowledged message id -> when it was sent. */
  private readonly acked = new Map<string, number>();
  private sender: ChatMember | undefined;
  private receiver: ChatMember | undefined;
  private sent = 0;

  /**
   * `room`: the load's hash tag (see `MixedLoad.faultKey`); `intervalMs`: the gap between two
   * messages.
   */
  constructor(
    private readonly context: WorkloadContext,
    private readonly room: string,
    private readonly intervalMs: number,
  ) {}

  pauseAfter(): number {
    return this.intervalMs;
  }

  /** Two members on (round-robin) different chat replicas, both in the room. */
  async setup(): Promise<void> {
    const [gateway] = this.context.client.urls;
    this.sender = new ChatMember(gateway, `sender-${this.context.tag}`);
    await this.sender.connected();
    this.receiver = new ChatMember(gateway, `receiver-${this.context.tag}`);
    await this.receiver.connected();
    await this.sender.join(this.room);
    await this.receiver.join(this.room);
  }

  async step(): Promise<void> {
    const sender = this.sender as ChatMember;
    if (!sender.socket.connected) return;
    this.sent += 1;
    const n = this.sent;
    const at = Date.now();
    const started = performance.now();
    const ack = await sender.send(this.room, `message ${n}`, `${this.context.tag}-${n}`);
    const ok = typeof ack.id === 'string' && !ack.error;
    if (ok) this.acked.set(ack.id as string, at);
    const code = typeof ack.error === 'object' ? ack.error.code : ack.error;
    this.context.events.add({
      at,
      op: 'chat.send',
      ok,
      outcome: ok ? 'ack' : String(code),
      ms: performance.now() - started,
    });
  }

  async verify({ settleMs, keepFrom }: VerifyWindow): Promise<ChatVerification> {
    const receiver = this.receiver as ChatMember;
    const undelivered = () =>
      [...this.acked].filter(([id, at]) => at >= keepFrom && !receiver.received.has(id));
    // What has not arrived within `settleMs` is counted below, not thrown.
    await eventually(
      'every acknowledged message delivered to the receiver',
      () => {
        if (undelivered().length > 0) throw new Error(`${undelivered().length} not delivered`);
      },
      { timeoutMs: settleMs, intervalMs: 100 },
    ).catch(() => undefined);
    const chatUndelivered = undelivered().length;
    const reader = new ChatMember(this.context.client.urls[0], `reader-${this.context.tag}`);
    let chatLost = 0;
    let chatLostBeforeKeep = 0;
    try {
      await reader.connected();
      await reader.join(this.room, '0-0');
      for (const [id, at] of this.acked) {
        if (reader.received.has(id)) continue;
        if (at >= keepFrom) chatLost += 1;
        else chatLostBeforeKeep += 1;
      }
    } catch {
      chatLost = this.acked.size;
    } finally {
      reader.close();
    }
    return {
      chatAcked: this.acked.size,
      chatLost,
      chatLostBeforeKeep,
      chatUndelivered,
      chatDuplicates: receiver.duplicates,
      chatServerDisconnects:
        receiver.serverDisconnects + (this.sender as ChatMember).serverDisconnects,
    };
  }

  close(): void {
    this.sender?.close();
    this.receiver?.close();
  }
}
