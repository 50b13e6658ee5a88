import { Cluster } from 'ioredis';
import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
  type RedisConfig,
} from '@redis-patterns/redis-core';

/** The methods the Socket.IO Redis adapter calls without handling their rejection. */
const UNGUARDED_BY_ADAPTER = ['publish', 'subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe'];

export interface AdapterClients {
  pub: RedisClient;
  sub: RedisClient;
  close(): Promise<void>;
}

/**
 * Catches rejections of the methods the adapter fires and forgets. The adapter never awaits
 * `publish`; a rejection there (client closed, Redis gone with a fail-fast setting) would be an
 * unhandled rejection, which ends a Node process (FIELD-NOTES).
 */
export function guardAdapterClient(client: RedisClient, onError: (error: Error) => void): void {
  const target = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of UNGUARDED_BY_ADAPTER) {
    const original = target[name].bind(client);
    target[name] = (...args: unknown[]) => {
      const result = original(...args);
      if (result instanceof Promise) result.catch(onError);
      return result;
    };
  }
}

interface CommandQueues {
  commandQueue?: { length: number };
  offlineQueue?: { length: number };
}

/**
 * Commands a client holds in memory: sent and unanswered, or queued while it is not connected
 * (ioredis internals: `commandQueue`, `offlineQueue`; a Cluster's own queue plus its nodes').
 * A command that timed out stays in these queues until Redis answers or the connection closes,
 * which is why the bound counts them rather than unsettled promises.
 */
export function pendingCommands(client: RedisClient): number {
  const queues = client as unknown as CommandQueues;
  let total = (queues.commandQueue?.length ?? 0) + (queues.offlineQueue?.length ?? 0);
  if (client instanceof Cluster) {
    for (const node of client.nodes()) total += pendingCommands(node);
  }
  return total;
}

/**
 * Drops a publish (resolves 0, calls `onDrop`) while the client already holds `maxPending`
 * commands, so that a Redis outage costs bounded memory however much is broadcast meanwhile.
 * A dropped broadcast still reached this replica's own sockets (Socket.IO emits locally before
 * publishing); other replicas miss it, and are told to resync once their subscription probe,
 * which goes through the same stalled Redis, comes back (`SubscriptionWatch`).
 */
export function boundPublishes(client: RedisClient, maxPending: number, onDrop: () => void): void {
  const target = client as unknown as { publish: Publish };
  const publish = target.publish.bind(client);
  target.publish = (channel, message) => {
    if (pendingCommands(client) >= maxPending) {
      onDrop();
      return Promise.resolve(0);
    }
    return publish(channel, message);
  };
}

type Publish = (channel: string | Buffer, message: string | Buffer) => Promise<number>;

const byAddress = (a: { options: { host?: string; port?: number } }, b: typeof a) =>
  `${a.options.host}:${a.options.port}`.localeCompare(`${b.options.host}:${b.options.port}`);

/**
 * Sends every PUBLISH of a Cluster client to one master (the first by address that is not
 * gone) instead of to any master, which is what ioredis does with a command that has no key.
 * Classic PUBLISH reaches every node over the cluster bus either way, but two publishes that
 * entered through different masters race each other there: measured, 5 of 72 deliveries from
 * closed-loop senders arrived out of stream order. Through one master they keep their order.
 * When that master fails, its pending publishes go to any master instead (order is then lost
 * for a moment, not the message), and the next live master by address takes over.
 */
export function pinClusterPublishes(cluster: Cluster): void {
  const target = cluster as unknown as { publish: Publish };
  const anyMaster = target.publish.bind(cluster);
  target.publish = (channel, message) => {
    const [node] = cluster
      .nodes('master')
      .filter((master) => master.status !== 'end' && master.status !== 'close')
      .sort(byAddress);
    if (!node) return anyMaster(channel, message);
    return node.publish(channel, message).catch(() => anyMaster(channel, message));
  };
}

export interface AdapterClientOptions {
  /** Deadline of each command; a publish past it is rejected (and logged), not unsent. */
  commandTimeoutMs: number;
  /** Most commands the publishing client holds (see `boundPublishes`). */
  maxPending: number;
  /** Called for each publish dropped over `maxPending`. */
  onDrop: () => void;
}

/**
 * The adapter's own two connections. Unlike the service's fail-fast client they queue while
 * Redis is away, up to `maxPending` commands (then broadcasts to other replicas are dropped, see
 * `boundPublishes`), and time a command out after `commandTimeoutMs`: a publish that waits
 * through a Redis stall is still delivered when Redis answers again (it is already in the
 * socket; the timeout only rejects its promise), and one that fails is caught (see
 * `guardAdapterClient`). Boot waits until both are ready.
 *
 * Per topology, from the same `RedisConfig` as the service client:
 * - Sentinel: both follow the master (`createRedis` turns on ioredis's `failoverDetector`, so
 *   they leave a demoted master when Sentinel announces the switch, not ~11 s later); publishes
 *   in flight are resent to the new master.
 * - Cluster: both are ioredis Cluster clients with the classic adapter. Classic PUBLISH is
 *   broadcast to every node over the cluster bus, so the subscription may sit on any node
 *   (ioredis picks one and moves it when that node fails); publishes enter through one master
 *   (`pinClusterPublishes`) so that they keep their order.
 *   The sharded adapter (SPUBLISH) is not used: its README states it does not work with ioredis
 *   and a Cluster.
 * What neither can do is deliver to a subscription that was not there: `SubscriptionWatch`
 * notices those gaps and the rooms resync.
 */
export async function createAdapterClients(
  config: RedisConfig,
  onError: (error: Error) => void,
  limits: AdapterClientOptions,
  bootTimeoutMs = 5000,
): Promise<AdapterClients> {
  const options: RedisConfig = {
    ...config,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeoutMs: limits.commandTimeoutMs,
    // The adapter never waits for replicas; the service's own wait must not bound its timeout.
    replicaAckTimeoutMs: undefined,
  };
  const pub = createRedis({ ...options, connectionName: 'chat-realtime-adapter-pub' });
  const sub = createRedis({ ...options, connectionName: 'chat-realtime-adapter-sub' });
  if (pub instanceof Cluster) pinClusterPublishes(pub);
  boundPublishes(pub, limits.maxPending, limits.onDrop);
  for (const client of [pub, sub]) {
    client.on('error', onError);
    guardAdapterClient(client, onError);
  }
  try {
    await Promise.all([waitForReady(pub, bootTimeoutMs), waitForReady(sub, bootTimeoutMs)]);
  } catch (error) {
    pub.disconnect();
    sub.disconnect();
    throw new Error(`Cannot reach Redis for the Socket.IO adapter: ${(error as Error).message}`);
  }
  return {
    pub,
    sub,
    close: async () => {
      await Promise.all([closeRedis(pub), closeRedis(sub)]);
    },
  };
}
