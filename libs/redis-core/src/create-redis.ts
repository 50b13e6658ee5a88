import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { DEFAULT_REDIS_URL, type RedisConfig } from './redis-config';
import { setReplicaAckPolicy, type ReplicaAckPolicy } from './replica-ack';
import { SentinelFailoverGate } from './sentinel-failover-gate';
import { SentinelMasterMap, type SentinelEvents } from './sentinel-watch';

/** Either kind of client; everything in this project works with both. */
export type RedisClient = Redis | Cluster;

export const DEFAULT_COMMAND_TIMEOUT_MS = 500;
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;

/** Reconnect quickly at first, then every 2 s, forever: a service outlives a Redis restart. */
function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2000);
}

function baseOptions(config: RedisConfig): RedisOptions {
  return {
    commandTimeout: config.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    connectTimeout: config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    enableOfflineQueue: config.enableOfflineQueue ?? false,
    enableAutoPipelining: config.autoPipelining ?? false,
    maxRetriesPerRequest:
      config.maxRetriesPerRequest === undefined ? 1 : config.maxRetriesPerRequest,
    retryStrategy: reconnectDelay,
    // A demoted master answers READONLY: reconnect (Sentinel names the new master) and resend,
    // which is safe because a READONLY write did not happen.
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
    connectionName: config.connectionName,
    lazyConnect: false,
  };
}

/** The replica-ack policy a config implies (see `RedisConfig.replicaAcks`). */
export function replicaAckPolicy(config: RedisConfig): ReplicaAckPolicy {
  const replicated = Boolean(config.clusterNodes?.length || config.sentinels?.length);
  const commandTimeout = config.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const timeoutMs = config.replicaAckTimeoutMs ?? Math.max(1, Math.floor(commandTimeout * 0.8));
  if (timeoutMs >= commandTimeout) {
    throw new Error(
      `REDIS_REPLICA_ACK_TIMEOUT_MS (${timeoutMs}) must be below REDIS_COMMAND_TIMEOUT_MS (${commandTimeout})`,
    );
  }
  return { replicas: config.replicaAcks ?? (replicated ? 1 : 0), timeoutMs };
}

/**
 * Creates an ioredis client for a standalone URL, Sentinel or Cluster, with explicit command and
 * connect timeouts, the offline queue off unless asked for, and the replica-ack policy that
 * `writeAcknowledged` / `awaitReplicas` apply (see `RedisConfig`).
 */
export function createRedis(config: RedisConfig = {}): RedisClient {
  const { client, sentinelEvents } = createClient(config);
  const policy = replicaAckPolicy(config);
  const gate =
    sentinelEvents && policy.replicas > 0
      ? () => new SentinelFailoverGate(sentinelEvents, config.sentinelMaster ?? 'mymaster')
      : undefined;
  setReplicaAckPolicy(client, policy, gate);
  return client;
}

function createClient(config: RedisConfig): {
  client: RedisClient;
  sentinelEvents?: SentinelEvents;
} {
  const options = baseOptions(config);
  if (config.clusterNodes?.length) {
    const url = config.url ? new URL(config.url) : undefined;
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue: options.enableOfflineQueue,
      // Never on Cluster: with a shard down, an auto-pipelined command waited past the command
      // timeout (4.7 s, gateway test/failover.test.ts "answers CLUSTERDOWN ..."; 500 ms expected).
      enableAutoPipelining: false,
      maxRedirections: 16,
      // Without a periodic refresh, writes did not resume within 20 s after a failover.
      slotsRefreshInterval: 1000,
      slotsRefreshTimeout: options.connectTimeout,
      clusterRetryStrategy: reconnectDelay,
      redisOptions: {
        ...options,
        enableAutoPipelining: false,
        password: url?.password ? decodeURIComponent(url.password) : undefined,
        username: url?.username ? decodeURIComponent(url.username) : undefined,
        tls: url?.protocol === 'rediss:' ? {} : undefined,
      },
    };
    return { client: new Cluster(config.clusterNodes, clusterOptions) };
  }
  if (config.sentinels?.length) {
    const url = new URL(config.url ?? DEFAULT_REDIS_URL);
    const tls = url.protocol === 'rediss:' ? {} : undefined;
    const masterName = config.sentinelMaster ?? 'mymaster';
    const masters = new SentinelMasterMap(config.sentinels, masterName, {
      tls,
      connectTimeout: options.connectTimeout,
      retryStrategy: reconnectDelay,
    });
    const client = new Redis({
      ...options,
      sentinels: config.sentinels,
      name: masterName,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      username: url.username ? decodeURIComponent(url.username) : undefined,
      db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
      tls,
      sentinelRetryStrategy: reconnectDelay,
      // A Sentinel that is paused keeps its socket open: without a deadline, asking it for the
      // master never returns, and the client never reconnects.
      sentinelCommandTimeout: options.connectTimeout,
      // Without it a client stays on a demoted master until Sentinel reconfigures it (~11 s
      // measured), and everything written there meanwhile is discarded by the resync.
      failoverDetector: true,
      // A Sentinel that has not yet seen the failover names the replaced master: go past it.
      natMap: masters.natMap,
    });
    client.once('end', () => masters.close());
    return { client, sentinelEvents: masters };
  }
  return { client: new Redis(config.url ?? DEFAULT_REDIS_URL, options) };
}

/**
 * Resolves once the client is `ready`, or rejects after `timeoutMs` with the last connection
 * error, so a service can refuse to boot instead of starting without its Redis.
 */
export function waitForReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError: Error | undefined;
    const onError = (error: Error) => {
      lastError = error;
    };
    const onReady = () => {
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(
          `Redis not ready after ${timeoutMs} ms${lastError ? `: ${lastError.message}` : ''}`,
        ),
      );
    }, timeoutMs);
    function cleanup() {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
    }
    client.on('ready', onReady);
    client.on('error', onError);
  });
}

/**
 * True when the client is connected and answers PING within `timeoutMs`. A paused server keeps
 * its socket open, so the status alone says nothing; the PING with a deadline does.
 */
export async function pingRedis(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status !== 'ready') return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('ping timed out')), timeoutMs);
    });
    await Promise.race([client.ping(), deadline]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Quits gracefully, and disconnects when QUIT cannot be answered (Redis gone or paused). */
export async function closeRedis(client: RedisClient, timeoutMs = 1000): Promise<void> {
  if (client.status === 'end') return;
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    await Promise.race([client.quit().then(() => ended), deadline]);
    // Always: QUIT leaves a Sentinel client's failover-detector connections reconnecting.
    client.disconnect();
  } catch {
    client.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
