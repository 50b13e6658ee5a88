import { envSchema } from 'env-schema';
import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { redactCredentials } from '@redis-patterns/redis-core';

/** A configuration problem, with the variable it is about. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Variables every service reads. `port` is the service's default port (DESIGN table). */
export function commonEnv(port: number) {
  return {
    PORT: Type.Integer({ minimum: 0, maximum: 65535, default: port }),
    HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
    LOG_LEVEL: Type.Union(
      LOG_LEVELS.map((level) => Type.Literal(level)),
      { default: 'info' },
    ),
    NODE_ENV: Type.String({ default: 'development' }),
    /** Time to keep answering after SIGTERM with readiness 503, before closing (load balancers). */
    SHUTDOWN_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60000, default: 0 }),
    /** Hard limit for the whole graceful shutdown. */
    SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120000, default: 10000 }),
  };
}

/** The Redis variables of DESIGN "Contracts"; `prefix` is the service's default key prefix. */
export function redisEnv(prefix: string) {
  return {
    REDIS_URL: Type.String({ pattern: '^rediss?://\\S+$', default: 'redis://127.0.0.1:6379' }),
    REDIS_SENTINELS: Type.Optional(Type.String({ pattern: '^\\S+:\\d+(,\\S+:\\d+)*$' })),
    REDIS_SENTINEL_MASTER: Type.Optional(Type.String({ minLength: 1 })),
    REDIS_CLUSTER_NODES: Type.Optional(Type.String({ pattern: '^\\S+:\\d+(,\\S+:\\d+)*$' })),
    REDIS_KEY_PREFIX: Type.String({ pattern: '^[A-Za-z0-9:_.-]+$', default: prefix }),
    REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60000, default: 500 }),
    REDIS_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60000, default: 2000 }),
    /** Replicas a user-visible write waits for; unset: 1 on Sentinel and Cluster, 0 standalone. */
    REDIS_REPLICA_ACKS: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 })),
    /** WAIT timeout; unset: 80% of REDIS_COMMAND_TIMEOUT_MS. */
    REDIS_REPLICA_ACK_TIMEOUT_MS: Type.Optional(Type.Integer({ minimum: 1, maximum: 60000 })),
  };
}

/** The PostgreSQL variable for services that own tables. */
export function databaseEnv() {
  return {
    DATABASE_URL: Type.String({
      pattern: '^postgres(ql)?://\\S+$',
      default: 'postgres://postgres:postgres@127.0.0.1:5432/redis_patterns',
    }),
    DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
    DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 600000, default: 2000 }),
  };
}

const HINTS: Record<string, string> = {
  REDIS_URL: 'a redis:// or rediss:// URL',
  DATABASE_URL: 'a postgres:// URL',
  REDIS_SENTINELS: 'a comma list of host:port',
  REDIS_CLUSTER_NODES: 'a comma list of host:port',
};

/** Variables whose value is never printed, whatever is wrong with it. */
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|API_KEY|PRIVATE|CREDENTIAL/;

interface AjvError {
  instancePath: string;
  message?: string;
  params?: { missingProperty?: string };
}

/**
 * Reads and validates the environment against `schema` (types coerced, defaults applied).
 * Throws a `ConfigError` naming the first bad or missing variable.
 */
export function loadConfig<P extends TProperties>(
  schema: TObject<P>,
  env: Record<string, string | undefined> = process.env,
): Static<TObject<P>> {
  const known = Object.keys(schema.properties);
  const data = Object.fromEntries(
    known.filter((key) => env[key] !== undefined && env[key] !== '').map((key) => [key, env[key]]),
  );
  let config: Static<TObject<P>>;
  try {
    config = envSchema<Static<TObject<P>>>({ schema, data, dotenv: false });
  } catch (error) {
    const errors = (error as { errors?: AjvError[] }).errors ?? [];
    const first = errors[0];
    const variable =
      first?.params?.missingProperty ?? first?.instancePath.replace(/^\//, '') ?? 'environment';
    const value = data[variable];
    const expected = HINTS[variable] ?? first?.message ?? 'a valid value';
    const rule = `${variable} must be ${HINTS[variable] ? expected : `valid: ${expected}`}`;
    const message =
      value === undefined
        ? `${variable} is required (${expected})`
        : SECRET_NAME.test(variable) || /_URLS?$/.test(variable)
          ? `${rule} (value not shown: it may hold credentials)`
          : `${rule}, got ${JSON.stringify(redactCredentials(String(value)))}`;
    throw new ConfigError(variable, message);
  }
  assertUrlsParse(config);
  return config;
}

/**
 * A pattern such as `^https?://\S+$` lets `http://u:p@[bad` through, and the service would only
 * fail (or print it) on first use: every `*_URL` and comma-separated `*_URLS` value must parse.
 */
function assertUrlsParse(config: Record<string, unknown>): void {
  for (const [variable, value] of Object.entries(config)) {
    // An empty value is the schema's business (an optional list left empty is allowed).
    if (typeof value !== 'string' || value.trim() === '' || !/_URLS?$/.test(variable)) continue;
    // Upstream variables such as PRODUCTS_URL hold a comma list of replicas too.
    const items = value.split(',');
    if (items.some((item) => !URL.canParse(item.trim()))) {
      throw new ConfigError(
        variable,
        `${variable} must be ${HINTS[variable] ?? 'a valid URL'}${value.includes(',') ? ' list (comma-separated)' : ''} (value not shown: it may hold credentials)`,
      );
    }
  }
}
