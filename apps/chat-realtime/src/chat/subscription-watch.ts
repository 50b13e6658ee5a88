import type { RedisClient } from '@redis-patterns/redis-core';

export interface SubscriptionWatchOptions {
  /** The adapter's publishing client: probes take the path broadcasts take. */
  pub: RedisClient;
  /** The adapter's subscribed client. */
  sub: RedisClient;
  /** A channel only this replica subscribes to (and that the adapter does not listen on). */
  channel: string;
  /** How often a probe is published; an unanswered probe is a loss at the next one. */
  intervalMs: number;
  /**
   * Called once a gap in the subscription has closed, with the send time of the last probe
   * that came back before it: broadcasts after that moment may have missed this replica.
   */
  onRecovered(lostSince: number): void;
  onError(error: Error): void;
  /** @default Date.now */
  now?: () => number;
}

/**
 * The connection ioredis's Cluster subscribes on. It has no public accessor and no event when
 * it moves to another node (its node died or left the slot map): messages published between
 * the old connection's end and the new one's SUBSCRIBE are lost to this replica, with no
 * `close` on the Cluster object. Comparing the instance is the only way to notice; on a
 * non-Cluster client this is undefined and the client's own `close` event covers it.
 */
function clusterSubscriberOf(client: RedisClient): unknown {
  const internals = client as unknown as { subscriber?: { getInstance?: () => unknown } };
  return typeof internals.subscriber?.getInstance === 'function'
    ? internals.subscriber.getInstance()
    : undefined;
}

/**
 * Notices when the adapter's subscription may have missed broadcasts, on any topology, and says
 * so once it works again. Three signals mark a gap: the subscribed connection closed (a Redis
 * restart, a Sentinel switch), a Cluster moved the subscription to another node, or a probe
 * published through `pub` did not come back within `intervalMs` (a stalled or partitioned node
 * keeps its socket open and says nothing). The gap closes when a probe published after it was
 * marked comes back, which proves both the re-subscription and the publish path.
 */
export class SubscriptionWatch {
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private readonly sentAt = new Map<number, number>();
  private lastConfirmedSentAt: number;
  private lastIdentity: unknown;
  /** Set while a gap is open: probes at or below this seq do not close it. */
  private lostAfterSeq: number | undefined;
  private lostSince = 0;

  private readonly onMessage = (channel: string, payload: string) => {
    if (channel === this.options.channel) this.received(Number(payload));
  };
  private readonly onClose = () => this.markLost();
  private readonly onReady = () => this.probe();

  constructor(private readonly options: SubscriptionWatchOptions) {
    this.now = options.now ?? Date.now;
    this.lastConfirmedSentAt = this.now();
  }

  /** Subscribes the probe channel on `sub` and starts probing. */
  async start(): Promise<void> {
    const { sub } = this.options;
    sub.on('message', this.onMessage);
    sub.on('close', this.onClose);
    sub.on('ready', this.onReady);
    await sub.subscribe(this.options.channel);
    this.lastIdentity = clusterSubscriberOf(sub);
    this.lastConfirmedSentAt = this.now();
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    const { sub } = this.options;
    sub.off('message', this.onMessage);
    sub.off('close', this.onClose);
    sub.off('ready', this.onReady);
  }

  /** True while a gap is open (for tests and logs). */
  get lost(): boolean {
    return this.lostAfterSeq !== undefined;
  }

  private tick(): void {
    this.checkIdentity();
    const outstanding = this.sentAt.get(this.seq);
    if (outstanding !== undefined && this.now() - outstanding >= this.options.intervalMs) {
      this.markLost();
    }
    this.probe();
  }

  /** Marks a gap when the Cluster's subscription moved; true when it did. */
  private checkIdentity(): boolean {
    const identity = clusterSubscriberOf(this.options.sub);
    if (identity === this.lastIdentity) return false;
    this.lastIdentity = identity;
    this.markLost();
    return true;
  }

  private markLost(): void {
    if (this.lostAfterSeq === undefined) this.lostSince = this.lastConfirmedSentAt;
    this.lostAfterSeq = this.seq;
  }

  private probe(): void {
    this.seq += 1;
    const seq = this.seq;
    this.sentAt.set(seq, this.now());
    this.options.pub.publish(this.options.channel, String(seq)).catch((error: Error) => {
      this.sentAt.delete(seq);
      this.options.onError(error);
    });
  }

  private received(seq: number): void {
    const sentAt = this.sentAt.get(seq);
    if (sentAt === undefined) return;
    // Probes answered out of order or twice (a resent publish) carry nothing new.
    for (const old of this.sentAt.keys()) if (old <= seq) this.sentAt.delete(old);
    // A message forwarded by a Cluster subscription that has just been replaced says nothing
    // about the new one: look at the instance first.
    if (this.checkIdentity()) this.probe();
    if (this.lostAfterSeq !== undefined && seq <= this.lostAfterSeq) return;
    this.lastConfirmedSentAt = Math.max(this.lastConfirmedSentAt, sentAt);
    if (this.lostAfterSeq === undefined) return;
    this.lostAfterSeq = undefined;
    this.options.onRecovered(this.lostSince);
  }
}
