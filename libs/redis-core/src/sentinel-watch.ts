import { Redis, type RedisOptions } from 'ioredis';
import type { RedisNode } from './redis-config';

/** How a watcher reaches the Sentinels (their credentials are not the data nodes'). */
export type SentinelWatchOptions = Pick<
  RedisOptions,
  'tls' | 'connectTimeout' | 'retryStrategy'
> & {
  sentinelPassword?: string;
  sentinelUsername?: string;
};

/** Every event a client's Sentinels publish, for whoever needs them (the failover gate). */
export interface SentinelEvents {
  /** Calls `listener` with each event's channel and message; returns its unsubscribe. */
  onEvent(listener: SentinelListener): () => void;
}

export type SentinelListener = (channel: string, message: string) => void;

/**
 * One connection per Sentinel subscribed to every event it publishes (`PSUBSCRIBE *`), each
 * event handed to `onEvent`; reconnects by itself. Disconnect the returned clients to stop.
 */
function watchSentinels(
  sentinels: RedisNode[],
  options: SentinelWatchOptions & { connectionName: string },
  onEvent: SentinelListener,
): Redis[] {
  return sentinels.map((node) => {
    const watcher = new Redis({
      host: node.host,
      port: node.port,
      tls: options.tls,
      password: options.sentinelPassword,
      username: options.sentinelUsername,
      connectTimeout: options.connectTimeout,
      retryStrategy: options.retryStrategy,
      maxRetriesPerRequest: null,
      connectionName: options.connectionName,
    });
    watcher.on('error', () => {});
    watcher.on('pmessage', (_pattern: string, channel: string, message: string) =>
      onEvent(channel, message),
    );
    watcher.psubscribe('*').catch(() => {});
    return watcher;
  });
}

/**
 * Remembers every master Sentinel has replaced, so that a client reconnecting after a failover
 * never goes back to one: ioredis asks a single Sentinel for the master, and until that Sentinel
 * has the new configuration it names the old one. Why: the failover's own leader announced
 * the switch about 1 s after the others here; a client that asked it reconnected to the old,
 * partitioned master, and once that resumed, wrote there until Sentinel demoted it (about
 * 10 s), and the resync discarded it all (235 gateway counts lost in one clean-clone run).
 * `natMap` is the hook ioredis gives for rewriting the address a Sentinel returned.
 */
export class SentinelMasterMap implements SentinelEvents {
  /** `host:port` of a replaced master -> `host:port` of the one that replaced it. */
  private readonly replaced = new Map<string, string>();
  private readonly listeners = new Set<SentinelListener>();
  private readonly watchers: Redis[];

  constructor(
    sentinels: RedisNode[],
    private readonly masterName: string,
    options: SentinelWatchOptions,
  ) {
    this.watchers = watchSentinels(
      sentinels,
      { ...options, connectionName: 'sentinel-watch' },
      (channel, message) => {
        if (channel === '+switch-master') this.onSwitch(message);
        for (const listener of this.listeners) listener(channel, message);
      },
    );
  }

  onEvent(listener: SentinelListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The current master for an address a Sentinel returned (itself when never replaced). */
  current(address: string): string {
    let at = address;
    // A chain of failovers; bounded because a promoted address is never also a replaced one.
    for (let hops = 0; hops <= this.replaced.size; hops += 1) {
      const next = this.replaced.get(at);
      if (next === undefined) return at;
      at = next;
    }
    return at;
  }

  /** For ioredis' `natMap`: the address to connect to instead, or null for the one returned. */
  readonly natMap = (address: string): { host: string; port: number } | null => {
    const to = this.current(address);
    if (to === address) return null;
    const colon = to.lastIndexOf(':');
    return { host: to.slice(0, colon), port: Number(to.slice(colon + 1)) };
  };

  close(): void {
    this.listeners.clear();
    for (const watcher of this.watchers) watcher.disconnect();
  }

  /** `+switch-master <name> <old ip> <old port> <new ip> <new port>` */
  private onSwitch(message: string): void {
    const [name, oldHost, oldPort, newHost, newPort] = message.split(' ');
    if (name !== this.masterName || !newPort) return;
    const from = `${oldHost}:${oldPort}`;
    const to = `${newHost}:${newPort}`;
    // The promoted one leads now, even if a failover long ago had replaced it.
    this.replaced.delete(to);
    if (from !== to) this.replaced.set(from, to);
  }
}
