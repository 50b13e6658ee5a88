import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
  type RedisConfig,
} from '@redis-patterns/redis-core';

/** The largest delay a Node timer accepts: in effect, no command timeout. */
const NO_COMMAND_TIMEOUT_MS = 2 ** 31 - 1;

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

/**
 * The adapter's own two connections. Unlike the service's fail-fast client they queue while
 * Redis is away and never time out a command: a publish that waits through a Redis stall is
 * delivered when Redis answers again (it is already in the socket), and one that fails is
 * caught (see `guardAdapterClient`). Boot waits until both are ready.
 */
export async function createAdapterClients(
  config: RedisConfig,
  onError: (error: Error) => void,
  bootTimeoutMs = 5000,
): Promise<AdapterClients> {
  const options: RedisConfig = {
    ...config,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeoutMs: NO_COMMAND_TIMEOUT_MS,
  };
  const pub = createRedis({ ...options, connectionName: 'chat-realtime-adapter-pub' });
  const sub = createRedis({ ...options, connectionName: 'chat-realtime-adapter-sub' });
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
