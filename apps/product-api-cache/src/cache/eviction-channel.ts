import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeRedis, waitForReady, type RedisClient } from '@redis-patterns/redis-core';
import type { FastifyBaseLogger } from 'fastify';
import { Cluster } from 'ioredis';
import {
  ackPayload,
  CLOCK_MARGIN_MS,
  evictionPayload,
  memberId,
  parseAck,
  parseChannelMessage,
  pingPayload,
  replicaOf,
  type ChannelMessage,
} from './eviction-message';
import type { CacheKeys } from './cache-keys';
import { ackScript, heartbeatScript, publishScript, unconfirmedScript } from './cache-scripts';

/** Groups to evict, or `null` for everything (a message may have been missed). */
export type EvictionListener = (groups: string[] | null) => void;

export interface EvictionChannelOptions {
  /** A connection of its own: a subscribed client can send no other command. */
  subscriber: RedisClient;
  /** The normal client: publishes, probes, acknowledgements, registry reads. */
  publisher: RedisClient;
  /**
   * Registrations and renewals, acknowledged by the topology's replicas (a failover must not
   * forget a member that believes itself registered), on a connection of their own because
   * `WAIT` holds the connection it is sent on. @default publisher
   */
  writer?: RedisClient;
  /** The service's keys: the channels and the registry keys. */
  keys: CacheKeys;
  /** Longest a write waits for the other members' acknowledgements. */
  ackTimeoutMs: number;
  /** How often a member renews its registration. */
  heartbeatMs: number;
  /** Registration lifetime; a member that stops renewing drops out after it. */
  memberTtlMs: number;
  log: FastifyBaseLogger;
}

/** How a publish ended. */
export type PublishResult =
  | { confirmed: true }
  /** Members still registered that did not acknowledge within the ack timeout. */
  | { confirmed: false; unconfirmed: string[] };

/** How often a waiting writer reads the registry (members that left, acknowledgements missed). */
const POLL_MS = 50;
/** Probes that did not come back before the subscriber connection is rebuilt. */
const PROBES_BEFORE_RECONNECT = 2;

type State = 'down' | 'probing' | 'registered';

/**
 * `promise`, or a rejection once `ms` passed. A heartbeat that never settles (a Cluster client
 * can queue a command forever once its connections are gone) must not stall the membership:
 * it counts as failed, and a late reply is ignored (the epoch moved on).
 */
async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} not answered within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The connection a Cluster client subscribes on. ioredis moves it to another node on its own
 * (the Cluster client emits nothing), so the channel watches it; internal to ioredis 5 and
 * guarded: without it, a move is still noticed from the message numbering within a heartbeat.
 * `undefined` for a client that is not a Cluster (its own events say when it reconnects).
 */
function clusterSubscription(client: RedisClient): EventEmitter | null | undefined {
  if (!(client instanceof Cluster)) return undefined;
  const internal = (client as unknown as { subscriber?: { getInstance?: () => unknown } })
    .subscriber;
  const connection = internal?.getInstance?.();
  return connection && typeof (connection as EventEmitter).once === 'function'
    ? (connection as EventEmitter)
    : null;
}

interface AckWaiter {
  /** Members that acknowledged (also before the publish returned). */
  acked: Set<string>;
  /** Members still awaited; null until the publish returned the list. */
  pending: Set<string> | null;
  wake: () => void;
}

/**
 * The pub/sub side of invalidation, exact on every topology. Each replica is a **member**: it
 * registers an id in a Redis sorted set (score = expiry by Redis' clock) and renews it every
 * `heartbeatMs`. A write publishes its groups with a script that also returns the members
 * registered at that instant; each member drops the groups from its L1 tier and running lookups
 * and acknowledges under its id; the writer waits until every one of them has acknowledged or
 * left the registry. PUBLISH's reply is never used (on a Cluster it counts one node).
 *
 * A member serves its L1 tier (`live`) only while it is subscribed, registered, and sure its
 * registration has not expired in Redis. It loses that, empties its L1 tier and registers again
 * under a new id when its subscriber reconnects, a heartbeat fails, its own ping does not come
 * back through the channel, or the channel's message numbers skip (a message was missed).
 */
export class EvictionChannel {
  readonly channel: string;
  private readonly ackChannel: string;
  private readonly membersKey: string;
  private readonly seqKey: string;
  private readonly replica = randomBytes(6).toString('base64url');
  private incarnation = 0;
  private readonly listeners: EvictionListener[] = [];
  private readonly waiters = new Map<string, AckWaiter>();
  private state: State = 'down';
  /** Bumped whenever the membership is lost: replies to older heartbeats are ignored. */
  private epoch = 0;
  /** The id registered now (state `registered`), or being probed (state `probing`). */
  private member = '';
  /** Ids of this replica that may still be in the registry: removed on the next registration. */
  private readonly stale = new Set<string>();
  /** performance.now() before which the registration is certainly live in Redis. */
  private registeredUntil = 0;
  private pingNonce = '';
  private pingReturned = true;
  private probesMissed = 0;
  private lastSeq: number | null = null;
  private heartbeatBusy = false;
  private timer: NodeJS.Timeout | undefined;
  /** The Cluster subscriber connection seen last (see clusterSubscription). */
  private watched: EventEmitter | null = null;
  private closed = false;
  private lastError = '';

  constructor(private readonly options: EvictionChannelOptions) {
    const { subscriber, keys, log } = options;
    if (options.memberTtlMs < 2 * options.heartbeatMs + CLOCK_MARGIN_MS) {
      throw new Error(
        `CACHE_MEMBER_TTL_MS (${options.memberTtlMs}) must be at least twice CACHE_MEMBER_HEARTBEAT_MS (${options.heartbeatMs}) + ${CLOCK_MARGIN_MS}`,
      );
    }
    this.channel = keys.evictionChannel;
    this.ackChannel = keys.ackChannel;
    this.membersKey = keys.members;
    this.seqKey = keys.seq;
    subscriber.on('ready', () => void this.subscribe());
    subscriber.on('close', () => this.lose('down', 'eviction subscriber closed'));
    subscriber.on('error', (error: Error) => {
      if (error.message !== this.lastError) log.warn({ err: error }, 'eviction subscriber error');
      this.lastError = error.message;
    });
    subscriber.on('message', (from: string, message: string) => {
      if (from === this.ackChannel) this.acknowledged(message);
      else if (from === this.channel) this.received(parseChannelMessage(message));
    });
  }

  onEvict(listener: EvictionListener): void {
    this.listeners.push(listener);
  }

  /** Subscribes and registers, waiting at most `timeoutMs`; until then `live` is false. */
  async start(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    this.timer = setInterval(() => void this.tick(), this.options.heartbeatMs).unref();
    try {
      await waitForReady(this.options.subscriber, timeoutMs);
      if (this.state === 'down') await this.subscribe();
      while (!this.live && performance.now() < deadline) await sleep(10);
      if (!this.live) throw new Error(`not registered after ${timeoutMs} ms`);
    } catch (error) {
      this.options.log.warn({ err: error }, 'L1 tier and shared lookups off until registered');
    }
  }

  /**
   * True while this replica may serve its L1 tier and share lookups: subscribed, registered,
   * and its registration certainly not expired (so every writer waits for its acknowledgement).
   */
  get live(): boolean {
    return this.state === 'registered' && performance.now() < this.registeredUntil;
  }

  /** This replica's registered id, or '' when not registered. */
  get memberId(): string {
    return this.state === 'registered' ? this.member : '';
  }

  /**
   * Publishes an eviction and resolves once every other member registered at that moment has
   * acknowledged it or left the registry (`confirmed`), or after `ackTimeoutMs` with the members
   * still awaited. Rejects when Redis does not take the publish.
   */
  async publish(groups: string[]): Promise<PublishResult> {
    const { publisher, ackTimeoutMs } = this.options;
    const id = randomBytes(9).toString('base64url');
    let wake = () => {};
    let woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const waiter: AckWaiter = { acked: new Set(), pending: null, wake: () => wake() };
    this.waiters.set(id, waiter);
    const deadline = performance.now() + ackTimeoutMs;
    try {
      const [, members] = await publishScript.run(
        publisher,
        [this.membersKey, this.seqKey],
        [this.channel, evictionPayload(id, memberId(this.replica, this.incarnation), groups)],
      );
      const pending = new Set(
        members.filter((m) => replicaOf(m) !== this.replica && !waiter.acked.has(m)),
      );
      waiter.pending = pending;
      while (pending.size > 0) {
        const remaining = deadline - performance.now();
        if (remaining <= 0) break;
        await Promise.race([woken, sleep(Math.min(POLL_MS, remaining))]);
        woken = new Promise<void>((resolve) => {
          wake = resolve;
        });
        if (pending.size === 0) break;
        try {
          const still = new Set(
            await unconfirmedScript.run(
              publisher,
              [this.membersKey, this.ackKey(id)],
              [...pending],
            ),
          );
          for (const m of [...pending]) if (!still.has(m)) pending.delete(m);
        } catch (error) {
          this.options.log.debug({ err: error }, 'eviction registry not readable; still waiting');
        }
      }
      return pending.size === 0
        ? { confirmed: true }
        : { confirmed: false, unconfirmed: [...pending] };
    } finally {
      this.waiters.delete(id);
    }
  }

  /** Leaves the registry (so writers do not wait for this replica) and closes the subscriber. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.lose('down', null);
    await this.forgetStale();
    await closeRedis(this.options.subscriber);
  }

  private ackKey(id: string): string {
    return this.options.keys.acks(id);
  }

  private received(message: ChannelMessage): void {
    const gap = message.seq === null || (this.lastSeq !== null && message.seq !== this.lastSeq + 1);
    if (message.seq !== null) this.lastSeq = message.seq;
    if (message.kind === 'eviction') this.emit(message.groups);
    if (message.kind === 'unreadable') this.emit(null);
    if (gap && this.state !== 'down') {
      // Something was published that this replica never saw: forget everything, and leave
      // under the old id so that the writer waiting for it does not wait in vain.
      this.lose('probing', 'eviction channel skipped a message');
      return;
    }
    if (message.kind === 'ping') {
      if (message.nonce === this.pingNonce) this.pingReturned = true;
      if (this.state === 'probing' && message.member === this.member) void this.register();
      return;
    }
    // Also while a registration is in flight: a writer that published after it landed waits
    // for this id.
    if (message.kind === 'eviction' && this.member) {
      if (replicaOf(message.from) === this.replica) return;
      const ack = { id: message.id, member: this.member };
      ackScript
        .run(
          this.options.publisher,
          [this.ackKey(message.id)],
          [this.ackChannel, this.member, this.options.ackTimeoutMs + 1000, ackPayload(ack)],
        )
        .catch((error: unknown) => {
          this.options.log.debug({ err: error }, 'eviction acknowledgement not sent');
        });
    }
  }

  private acknowledged(message: string): void {
    const ack = parseAck(message);
    const waiter = ack && this.waiters.get(ack.id);
    if (!ack || !waiter) return;
    waiter.acked.add(ack.member);
    if (waiter.pending?.delete(ack.member) && waiter.pending.size === 0) waiter.wake();
  }

  private emit(groups: string[] | null): void {
    for (const listener of this.listeners) listener(groups);
  }

  private async subscribe(): Promise<void> {
    if (this.closed) return;
    try {
      await this.options.subscriber.subscribe(this.channel, this.ackChannel);
      // Whatever was published while we were away is lost: start again from an empty L1 tier.
      this.lastSeq = null;
      this.watchClusterSubscription();
      this.lose('probing', null);
    } catch (error) {
      this.options.log.warn({ err: error }, 'eviction subscribe failed');
    }
  }

  /**
   * Stops serving the L1 tier at once (it may hold what a missed eviction named) and leaves the
   * registry; in `probing` a fresh id is probed and registered as soon as the channel works.
   */
  private lose(next: 'down' | 'probing', reason: string | null, probeNow = true): void {
    const wasLive = this.state === 'registered';
    this.epoch += 1;
    if (wasLive) this.stale.add(this.member);
    this.state = next;
    this.registeredUntil = 0;
    this.member = '';
    this.probesMissed = 0;
    this.emit(null);
    if (wasLive && reason) this.options.log.warn({ reason }, 'left the eviction registry');
    void this.forgetStale();
    if (next === 'probing' && probeNow && !this.closed) void this.probe();
  }

  /** Removes this replica's old ids from the registry (best effort; they expire anyway). */
  private async forgetStale(): Promise<void> {
    const ids = [...this.stale];
    if (ids.length === 0) return;
    try {
      await this.options.publisher.zrem(this.membersKey, ...ids);
      for (const id of ids) this.stale.delete(id);
    } catch {
      // Redis away: the next registration removes them, or they expire.
    }
  }

  private beat(member: string, previous: string): [string, string, number, string, string] {
    this.pingNonce = randomBytes(6).toString('base64url');
    this.pingReturned = false;
    return [
      this.channel,
      member,
      this.options.memberTtlMs,
      previous,
      pingPayload(member || this.member, this.pingNonce),
    ];
  }

  /** Publishes a ping for a fresh id without registering it: does the channel reach us? */
  private async probe(): Promise<void> {
    this.incarnation += 1;
    this.member = memberId(this.replica, this.incarnation);
    const epoch = this.epoch;
    try {
      await heartbeatScript.run(
        this.options.publisher,
        [this.membersKey, this.seqKey],
        this.beat('', ''),
      );
    } catch (error) {
      if (epoch === this.epoch) this.options.log.debug({ err: error }, 'eviction probe failed');
    }
  }

  /** Our probe came back: register its id (removing older ones), then serve L1 again. */
  private async register(): Promise<void> {
    if (this.heartbeatBusy) return;
    this.heartbeatBusy = true;
    const epoch = this.epoch;
    const id = this.member;
    const sentAt = performance.now();
    try {
      const previous = [...this.stale][0] ?? '';
      await bounded(
        heartbeatScript.runAcknowledged(
          this.options.writer ?? this.options.publisher,
          [this.membersKey, this.seqKey],
          this.beat(id, previous),
        ),
        this.options.memberTtlMs,
        'registration',
      );
      this.stale.delete(previous);
      if (epoch !== this.epoch) {
        this.stale.add(id);
        void this.forgetStale();
        return;
      }
      // Reads made while unregistered may have filled L1 from before a write we were not
      // waited for: empty it now, and every read older than this cannot store its value.
      this.emit(null);
      this.state = 'registered';
      this.registeredUntil = sentAt + this.options.memberTtlMs - CLOCK_MARGIN_MS;
      void this.forgetStale();
    } catch (error) {
      if (epoch === this.epoch) {
        this.stale.add(id);
        this.options.log.debug({ err: error }, 'eviction registration failed');
        // Probed again on the next heartbeat, not at once: Redis may refuse for a while (no
        // replica to acknowledge, mid-failover).
        this.lose('probing', null, false);
      }
    } finally {
      this.heartbeatBusy = false;
    }
  }

  private async renew(): Promise<void> {
    this.heartbeatBusy = true;
    const epoch = this.epoch;
    const sentAt = performance.now();
    try {
      await bounded(
        heartbeatScript.runAcknowledged(
          this.options.writer ?? this.options.publisher,
          [this.membersKey, this.seqKey],
          this.beat(this.member, ''),
        ),
        this.options.memberTtlMs,
        'heartbeat',
      );
      if (epoch !== this.epoch) return;
      // Renewed after the old registration may have lapsed: writers may have skipped us.
      if (performance.now() >= this.registeredUntil) {
        this.lose('probing', 'registration renewed too late');
        return;
      }
      this.registeredUntil = sentAt + this.options.memberTtlMs - CLOCK_MARGIN_MS;
    } catch (error) {
      if (epoch === this.epoch) {
        this.lose('probing', `heartbeat failed: ${(error as Error).message}`, false);
      }
    } finally {
      this.heartbeatBusy = false;
    }
  }

  /** Treats a Cluster subscriber connection that closed or was replaced as a reconnect. */
  private watchClusterSubscription(): boolean {
    const connection = clusterSubscription(this.options.subscriber);
    if (connection === undefined || connection === this.watched) return false;
    const replaced = this.watched !== null;
    this.watched = connection;
    connection?.once('close', () => {
      if (this.watched === connection && this.state !== 'down') {
        this.lastSeq = null;
        this.lose('probing', 'eviction subscriber connection closed');
      }
    });
    return replaced;
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    if (this.watchClusterSubscription() && this.state !== 'down') {
      this.lastSeq = null;
      this.lose('probing', 'eviction subscriber moved to another Cluster node');
    }
    // Checked even while a heartbeat is out: past the deadline the L1 tier is emptied at once.
    if (this.state === 'registered' && performance.now() >= this.registeredUntil) {
      this.lose('probing', 'registration lapsed (event loop stalled or heartbeat unanswered)');
      return;
    }
    if (this.heartbeatBusy) return;
    if (this.state === 'registered') {
      if (!this.pingReturned) {
        this.lose('probing', 'own ping did not come back through the channel');
      } else {
        await this.renew();
      }
      return;
    }
    if (this.state !== 'probing') return;
    if (!this.pingReturned) this.probesMissed += 1;
    if (this.probesMissed >= PROBES_BEFORE_RECONNECT) {
      // The subscription looks fine to the client but delivers nothing: rebuild it.
      this.options.log.warn('eviction subscriber delivers nothing; reconnecting it');
      this.probesMissed = 0;
      this.options.subscriber.disconnect(true);
      return;
    }
    await this.probe();
  }
}
