import { envSchema } from 'env-schema';
import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';

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
  try {
    return envSchema<Static<TObject<P>>>({ schema, data, dotenv: false });
  } catch (error) {
    const errors = (error as { errors?: AjvError[] }).errors ?? [];
    const first = errors[0];
    const variable =
      first?.params?.missingProperty ?? first?.instancePath.replace(/^\//, '') ?? 'environment';
    const value = data[variable];
    const expected = HINTS[variable] ?? first?.message ?? 'a valid value';
    const message =
      value === undefined
        ? `${variable} is required (${expected})`
        : `${variable} must be ${HINTS[variable] ? expected : `valid: ${expected}`}, got ${JSON.stringify(value)}`;
    throw new ConfigError(variable, message);
  }
}
