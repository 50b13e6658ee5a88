import { Type, type Static } from '@sinclair/typebox';
import {
  ConfigError,
  commonEnv,
  databaseConfigOf,
  databaseEnv,
  loadConfig,
  redisEnv,
  redisConfigOf,
  type DatabaseConfig,
} from '@redis-patterns/service-kit';
import type { RedisConfig } from '@redis-patterns/redis-core';
import { browserPolicyOf, type TrustProxy } from '@redis-patterns/service-kit';
import { parseTrustProxy } from './chat/origin-policy';

/** Every variable chat-realtime reads, with its default; `server.ts` validates the environment against it. */
export const envSchema = Type.Object({
  ...commonEnv(3005),
  ...redisEnv('chat'),
  /** Socket.IO transports, comma-separated: `websocket` (no sticky sessions) or `websocket,polling`. */
  CHAT_TRANSPORTS: Type.String({
    pattern: '^(websocket|polling)(,(websocket|polling))*$',
    default: 'websocket',
  }),
  /** Accept guests who only give a display name (no auth-session cookie). Off unless set. */
  CHAT_ALLOW_GUESTS: Type.Boolean({ default: false }),
  /**
   * Extra origins (`https://app.example.com`, comma list) whose pages may open a WebSocket
   * besides the service's own host: auth-session's `ALLOWED_ORIGINS`, same rules.
   */
  ALLOWED_ORIGINS: Type.String({ default: '' }),
  /**
   * Proxies whose `X-Forwarded-Host` names the host the browser reached: `false`, `true` or a
   * comma list of addresses/CIDRs/`loopback` (auth-session's `TRUST_PROXY`, same rules).
   */
  TRUST_PROXY: Type.String({ default: 'false' }),
  ...databaseEnv(),
  /**
   * PostgreSQL archive of acknowledged messages (history beyond Redis). Unset: no archive,
   * history lives in Redis only. `DATABASE_STATEMENT_TIMEOUT_MS` bounds each archive statement:
   * a send waits at most this long for its commit.
   */
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://\\S+$' })),
  /** Base URL of auth-session; the handshake calls `GET <AUTH_URL>/auth/me` with the cookie. */
  AUTH_URL: Type.String({ pattern: '^https?://\\S+$', default: 'http://127.0.0.1:3002' }),
  /** Deadline of the handshake's call to auth-session. */
  AUTH_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 30000, default: 2000 }),
  /** Approximate cap of each room's stream (XADD MAXLEN ~). */
  CHAT_STREAM_MAXLEN: Type.Integer({ minimum: 100, maximum: 10000000, default: 10000 }),
  /** Messages returned by a join without `lastSeenId`. */
  CHAT_HISTORY_LIMIT: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
  /** Largest catch-up a join with `lastSeenId` returns (the newest ones, flagged `truncated`). */
  CHAT_CATCHUP_LIMIT: Type.Integer({ minimum: 10, maximum: 10000, default: 1000 }),
  /** Messages per user (all their sockets, every replica) per window; then RATE_LIMITED. */
  CHAT_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, maximum: 100000, default: 10 }),
  CHAT_RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 100, maximum: 3600000, default: 10000 }),
  /** `typing` events per socket per window that are relayed; then RATE_LIMITED. */
  CHAT_TYPING_RATE_MAX: Type.Integer({ minimum: 1, maximum: 100000, default: 5 }),
  CHAT_TYPING_RATE_WINDOW_MS: Type.Integer({ minimum: 100, maximum: 3600000, default: 5000 }),
  /** Rooms one socket may be in at once. */
  CHAT_MAX_ROOMS_PER_SOCKET: Type.Integer({ minimum: 1, maximum: 10000, default: 50 }),
  /** Rooms one user may be in at once, over all their sockets and replicas. */
  CHAT_MAX_ROOMS_PER_USER: Type.Integer({ minimum: 1, maximum: 100000, default: 100 }),
  /** Deadline of each command of the adapter's own Redis clients. */
  CHAT_ADAPTER_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600000, default: 5000 }),
  /** Most commands the adapter's publishing client holds unanswered; beyond, broadcasts to other replicas are dropped. */
  CHAT_ADAPTER_MAX_PENDING: Type.Integer({ minimum: 10, maximum: 1000000, default: 10000 }),
  /** How often a replica refreshes its users' presence entries and rechecks each room. */
  CHAT_PRESENCE_HEARTBEAT_MS: Type.Integer({ minimum: 50, maximum: 600000, default: 5000 }),
  /** Lifetime of a presence entry not refreshed (a crashed replica's users vanish after it). */
  CHAT_PRESENCE_TTL_MS: Type.Integer({ minimum: 100, maximum: 3600000, default: 15000 }),
  /** How long a clientMsgId is remembered for deduplication. */
  CHAT_DEDUPE_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 2592000, default: 86400 }),
  /** Overlap before `lastSeenId` / before a subscription loss that a resync re-reads. */
  CHAT_RESYNC_MARGIN_MS: Type.Integer({ minimum: 0, maximum: 600000, default: 2000 }),
  /** How often a replica probes its adapter subscription (a probe not back by the next one is a gap). */
  CHAT_SUBSCRIPTION_PROBE_MS: Type.Integer({ minimum: 50, maximum: 60000, default: 1000 }),
});
export type Env = Static<typeof envSchema>;

export type Transport = 'websocket' | 'polling';

/**
 * What the chat needs besides Redis; every field mirrors one variable of `envSchema`, whose
 * default is the field's (see `defaultChatConfig`).
 */
export interface ChatConfig {
  transports: Transport[];
  allowGuests: boolean;
  /** Origins allowed besides the request's own host (`ALLOWED_ORIGINS`). */
  allowedOrigins: string[];
  /** Whose `X-Forwarded-Host` counts as the host (`TRUST_PROXY`). */
  trustProxy: TrustProxy;
  authUrl: string;
  authTimeoutMs: number;
  streamMaxLen: number;
  historyLimit: number;
  catchupLimit: number;
  rateLimitMax: number;
  rateLimitWindowMs: number;
  typingRateMax: number;
  typingRateWindowMs: number;
  maxRoomsPerSocket: number;
  maxRoomsPerUser: number;
  adapterCommandTimeoutMs: number;
  adapterMaxPending: number;
  presenceHeartbeatMs: number;
  presenceTtlMs: number;
  dedupeTtlSeconds: number;
  resyncMarginMs: number;
  subscriptionProbeMs: number;
  /**
   * `redis`: the Socket.IO Redis adapter, needed as soon as there are two replicas. `memory`:
   * Socket.IO's in-process adapter, correct for one instance only; the benchmark's ceiling. Not
   * an environment variable on purpose: a deployment always runs the Redis adapter.
   * @default 'redis'
   */
  adapter?: 'redis' | 'memory';
}

/** What `buildApp` needs; tests build it directly. */
export interface AppConfig {
  /** Pino level (`LOG_LEVEL`). */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service (`REDIS_KEY_PREFIX`). */
  keyPrefix: string;
  chat: ChatConfig;
  /** The archive (`DATABASE_*`); absent: history lives in Redis only. */
  database?: DatabaseConfig;
}

export function configFromEnv(env: Env): AppConfig {
  // Entries must outlive the interval that refreshes them, or users would flicker offline.
  if (env.CHAT_PRESENCE_HEARTBEAT_MS * 2 > env.CHAT_PRESENCE_TTL_MS) {
    throw new ConfigError(
      'CHAT_PRESENCE_TTL_MS',
      `CHAT_PRESENCE_TTL_MS must be at least twice CHAT_PRESENCE_HEARTBEAT_MS (${env.CHAT_PRESENCE_HEARTBEAT_MS})`,
    );
  }
  const { allowedOrigins, trustProxy } = browserPolicyOf(env, parseTrustProxy);
  return {
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'chat-realtime'),
    keyPrefix: env.REDIS_KEY_PREFIX,
    database: env.DATABASE_URL
      ? databaseConfigOf({ ...env, DATABASE_URL: env.DATABASE_URL })
      : undefined,
    chat: {
      transports: [...new Set(env.CHAT_TRANSPORTS.split(',') as Transport[])],
      allowGuests: env.CHAT_ALLOW_GUESTS,
      allowedOrigins,
      trustProxy,
      authUrl: env.AUTH_URL.replace(/\/+$/, ''),
      authTimeoutMs: env.AUTH_TIMEOUT_MS,
      streamMaxLen: env.CHAT_STREAM_MAXLEN,
      historyLimit: env.CHAT_HISTORY_LIMIT,
      catchupLimit: env.CHAT_CATCHUP_LIMIT,
      rateLimitMax: env.CHAT_RATE_LIMIT_MAX,
      rateLimitWindowMs: env.CHAT_RATE_LIMIT_WINDOW_MS,
      typingRateMax: env.CHAT_TYPING_RATE_MAX,
      typingRateWindowMs: env.CHAT_TYPING_RATE_WINDOW_MS,
      maxRoomsPerSocket: env.CHAT_MAX_ROOMS_PER_SOCKET,
      maxRoomsPerUser: env.CHAT_MAX_ROOMS_PER_USER,
      adapterCommandTimeoutMs: env.CHAT_ADAPTER_COMMAND_TIMEOUT_MS,
      adapterMaxPending: env.CHAT_ADAPTER_MAX_PENDING,
      presenceHeartbeatMs: env.CHAT_PRESENCE_HEARTBEAT_MS,
      presenceTtlMs: env.CHAT_PRESENCE_TTL_MS,
      dedupeTtlSeconds: env.CHAT_DEDUPE_TTL_SECONDS,
      resyncMarginMs: env.CHAT_RESYNC_MARGIN_MS,
      subscriptionProbeMs: env.CHAT_SUBSCRIPTION_PROBE_MS,
    },
  };
}

/** The chat's settings with every variable unset: the schema's defaults, written nowhere else. */
export const defaultChatConfig: ChatConfig = configFromEnv(loadConfig(envSchema, {})).chat;
