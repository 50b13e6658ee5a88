/** A host and port of a Sentinel or Cluster node. */
export interface RedisNode {
  host: string;
  port: number;
}

/** How to reach Redis: one of a standalone URL, Sentinel or Cluster. */
export interface RedisConfig {
  /**
   * A `redis://` or `rediss://` (TLS) URL of a standalone server. Also carries the password and
   * database for Sentinel (the master's credentials) when `sentinels` is set.
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string;
  /** Sentinel nodes; when set, the client asks them for the master named `sentinelMaster`. */
  sentinels?: RedisNode[];
  /** The Sentinel master group name. @default 'mymaster' */
  sentinelMaster?: string;
  /** Cluster seed nodes; when set, a Cluster client is created. */
  clusterNodes?: RedisNode[];
  /**
   * How long one command may take before it fails. Without it a paused Redis (open socket, no
   * answer) makes commands wait forever.
   * @default 500
   */
  commandTimeoutMs?: number;
  /** How long a (re)connect attempt may take. @default 2000 */
  connectTimeoutMs?: number;
  /**
   * Queue commands while disconnected. Off by default so that a caller that fails open does not
   * wait for a Redis that is away; pub/sub clients that must not lose a publish may turn it on.
   * @default false
   */
  enableOfflineQueue?: boolean;
  /**
   * Send the commands issued in one turn of the event loop in one write (ioredis'
   * `enableAutoPipelining`), for a hot path of one command per request. Order per connection is
   * kept; explicit pipelines and transactions are unaffected. Standalone and Sentinel only: a
   * Cluster client ignores it (with a shard down, auto-pipelined commands outlived the command
   * timeout).
   * @default false
   */
  autoPipelining?: boolean;
  /** Retries of one command over reconnects before it fails. @default 1 */
  maxRetriesPerRequest?: number | null;
  /** Client name shown in `CLIENT LIST`. */
  connectionName?: string;
  /**
   * Replicas that must hold a write that matters to users (logout, score, message) before it is
   * acknowledged (`WAIT`); 0 turns it off. Standalone has no replica to wait for.
   * @default 1 on Sentinel and Cluster, 0 on standalone
   */
  replicaAcks?: number;
  /**
   * How long such a write waits for its replicas before it answers 503. Must stay below the
   * command timeout so the wait cannot itself time out.
   * @default 80% of `commandTimeoutMs`
   */
  replicaAckTimeoutMs?: number;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The variables `redisConfigFromEnv` reads. */
export interface RedisEnv {
  REDIS_URL?: string;
  REDIS_SENTINELS?: string;
  REDIS_SENTINEL_MASTER?: string;
  REDIS_CLUSTER_NODES?: string;
  REDIS_COMMAND_TIMEOUT_MS?: number;
  REDIS_CONNECT_TIMEOUT_MS?: number;
  REDIS_REPLICA_ACKS?: number;
  REDIS_REPLICA_ACK_TIMEOUT_MS?: number;
}

/** Parses `host:port,host:port` (IPv6 as `[::1]:6379`); throws naming `variable` on bad input. */
export function parseNodeList(value: string, variable: string): RedisNode[] {
  const nodes = value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(part);
      const port = match ? Number(match[3]) : NaN;
      if (!match || port < 1 || port > 65535) {
        throw new Error(`${variable} must be a comma list of host:port, got "${part}"`);
      }
      return { host: match[1] ?? match[2] ?? '', port };
    });
  if (nodes.length === 0) throw new Error(`${variable} must list at least one host:port`);
  return nodes;
}

/**
 * `value` fit to print in an error: the password of every `scheme://user:password@` in it
 * (a URL or a comma list of them) replaced by `***`, so a config error never leaks a secret.
 */
export function redactCredentials(value: string): string {
  return value.replace(
    /([a-z][a-z0-9+.-]*:\/\/)([^/@\s,]*)@/gi,
    (_, scheme: string, auth: string) => {
      const colon = auth.indexOf(':');
      return `${scheme}${colon >= 0 ? `${auth.slice(0, colon)}:***` : '***'}@`;
    },
  );
}

/** Checks a standalone URL; throws naming `variable` when it is not redis:// or rediss://. */
export function assertRedisUrl(value: string, variable = 'REDIS_URL'): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    // The value is not shown: a URL that does not parse may hide its password anywhere.
    throw new Error(`${variable} must be a redis:// or rediss:// URL (value not shown)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(
      `${variable} must be a redis:// or rediss:// URL, got ${parsed.protocol}//${parsed.host} (credentials not shown)`,
    );
  }
  return value;
}

/** Builds a `RedisConfig` from the standard variables (DESIGN "Contracts"). */
export function redisConfigFromEnv(env: RedisEnv): RedisConfig {
  const config: RedisConfig = { url: assertRedisUrl(env.REDIS_URL ?? DEFAULT_REDIS_URL) };
  if (env.REDIS_CLUSTER_NODES) {
    config.clusterNodes = parseNodeList(env.REDIS_CLUSTER_NODES, 'REDIS_CLUSTER_NODES');
  } else if (env.REDIS_SENTINELS) {
    config.sentinels = parseNodeList(env.REDIS_SENTINELS, 'REDIS_SENTINELS');
    config.sentinelMaster = env.REDIS_SENTINEL_MASTER ?? 'mymaster';
  }
  if (env.REDIS_COMMAND_TIMEOUT_MS !== undefined)
    config.commandTimeoutMs = env.REDIS_COMMAND_TIMEOUT_MS;
  if (env.REDIS_CONNECT_TIMEOUT_MS !== undefined)
    config.connectTimeoutMs = env.REDIS_CONNECT_TIMEOUT_MS;
  if (env.REDIS_REPLICA_ACKS !== undefined) config.replicaAcks = env.REDIS_REPLICA_ACKS;
  if (env.REDIS_REPLICA_ACK_TIMEOUT_MS !== undefined)
    config.replicaAckTimeoutMs = env.REDIS_REPLICA_ACK_TIMEOUT_MS;
  return config;
}

/** A printable description of where the config points, without credentials. */
export function describeRedis(config: RedisConfig): string {
  if (config.clusterNodes)
    return `cluster ${config.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (config.sentinels) {
    return `sentinel ${config.sentinelMaster ?? 'mymaster'}@${config.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}`;
  }
  const url = new URL(config.url ?? DEFAULT_REDIS_URL);
  url.password = '';
  url.username = '';
  return url.toString();
}
