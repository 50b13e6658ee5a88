import { randomBytes } from 'node:crypto';
import { closeRedis, waitForReady, type RedisClient } from '@redis-patterns/redis-core';
import type { FastifyBaseLogger } from 'fastify';

/** Groups to evict, or `null` for everything (a message may have been missed). */
export type EvictionListener = (groups: string[] | null) => void;

/** An eviction as published: an id to acknowledge, and the groups (null: unreadable message). */
export interface EvictionMessage {
  id: string | null;
  groups: string[] | null;
}

export interface EvictionChannelOptions {
  /** A connection of its own: a subscribed client can send no other command. */
  subscriber: RedisClient;
  /** The normal client, which publishes evictions and acknowledgements. */
  publisher: RedisClient;
  /** Evictions go out here, acknowledgements on `<channel>:ack`. */
  channel: string;
  /** Longest a write waits for the acknowledgements of the other replicas. */
  ackTimeoutMs: number;
  log: FastifyBaseLogger;
}

interface AckWaiter {
  received: number;
  expected: number;
  done: () => void;
}

/**
 * The pub/sub side of invalidation: every write publishes the groups it changed; each replica
 * hands them to its listeners (L1 tier, in-process single flights) and then acknowledges, and
 * the writer waits (bounded) until every subscriber that received the message has done so, so
 * that no replica still holds the old value when the write is acknowledged. Pub/sub is at most
 * once, so whatever relies on it must check `live`, and every (re)subscribe or disconnect is
 * reported as "evict everything".
 */
export class EvictionChannel {
  readonly channel: string;
  private readonly ackChannel: string;
  private readonly listeners: EvictionListener[] = [];
  private readonly waiters = new Map<string, AckWaiter>();
  private subscribed = false;
  private lastError = '';

  constructor(private readonly options: EvictionChannelOptions) {
    const { subscriber, log } = options;
    this.channel = options.channel;
    this.ackChannel = `${options.channel}:ack`;
    subscriber.on('ready', () => void this.subscribe());
    subscriber.on('close', () => {
      this.subscribed = false;
      this.emit(null);
    });
    subscriber.on('error', (error: Error) => {
      if (error.message !== this.lastError) log.warn({ err: error }, 'eviction subscriber error');
      this.lastError = error.message;
    });
    subscriber.on('message', (from: string, message: string) => {
      if (from === this.ackChannel) this.acknowledged(message);
      else if (from === this.channel) this.received(parseEviction(message));
    });
  }

  onEvict(listener: EvictionListener): void {
    this.listeners.push(listener);
  }

  /** Waits (bounded) for the first subscription; until one succeeds, `live` is false. */
  async start(timeoutMs: number): Promise<void> {
    try {
      await waitForReady(this.options.subscriber, timeoutMs);
      await this.subscribe();
    } catch (error) {
      this.options.log.warn({ err: error }, 'evictions off until the subscriber connects');
    }
  }

  /** True while evictions published by other replicas arrive here. */
  get live(): boolean {
    return this.subscribed;
  }

  /**
   * Publishes an eviction and resolves once every subscriber that received it acknowledged, or
   * after `ackTimeoutMs` (resolving false). Rejects when Redis does not take the publish.
   */
  async publish(groups: string[]): Promise<boolean> {
    const id = randomBytes(9).toString('base64url');
    let done = () => {};
    const allAcked = new Promise<void>((resolve) => {
      done = resolve;
    });
    const waiter: AckWaiter = { received: 0, expected: Number.POSITIVE_INFINITY, done };
    this.waiters.set(id, waiter);
    let timer: NodeJS.Timeout | undefined;
    try {
      waiter.expected = await this.options.publisher.publish(
        this.channel,
        JSON.stringify({ id, groups }),
      );
      if (waiter.received >= waiter.expected) return true;
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), this.options.ackTimeoutMs);
      });
      return await Promise.race([allAcked.then(() => true), timedOut]);
    } finally {
      clearTimeout(timer);
      this.waiters.delete(id);
    }
  }

  async close(): Promise<void> {
    this.subscribed = false;
    await closeRedis(this.options.subscriber);
  }

  private received({ id, groups }: EvictionMessage): void {
    this.emit(groups);
    if (id === null) return;
    this.options.publisher.publish(this.ackChannel, id).catch((error: unknown) => {
      this.options.log.debug({ err: error }, 'eviction acknowledgement not sent');
    });
  }

  private acknowledged(id: string): void {
    const waiter = this.waiters.get(id);
    if (!waiter) return;
    waiter.received += 1;
    if (waiter.received >= waiter.expected) waiter.done();
  }

  private emit(groups: string[] | null): void {
    for (const listener of this.listeners) listener(groups);
  }

  private async subscribe(): Promise<void> {
    try {
      await this.options.subscriber.subscribe(this.channel, this.ackChannel);
      // Messages published while we were away are lost: everyone forgets what they held.
      this.emit(null);
      this.subscribed = true;
    } catch (error) {
      this.options.log.warn({ err: error }, 'eviction subscribe failed');
    }
  }
}

/** Reads an eviction; an unreadable one evicts everything (it may have named anything). */
export function parseEviction(message: string): EvictionMessage {
  try {
    const parsed = JSON.parse(message) as { id?: unknown; groups?: unknown };
    const id = typeof parsed.id === 'string' ? parsed.id : null;
    const groups =
      Array.isArray(parsed.groups) && parsed.groups.every((group) => typeof group === 'string')
        ? (parsed.groups as string[])
        : null;
    return { id, groups };
  } catch {
    return { id: null, groups: null };
  }
}

/** Whether a key belongs to one of the groups (it carries the group's `{hash tag}`). */
export function inGroups(key: string, groups: string[]): boolean {
  return groups.some((group) => key.includes(`{${group}}`));
}
