import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import type { Static, TObject, TProperties } from '@sinclair/typebox';
import { loadConfig } from './env-config';
import { stopTracing } from './tracing';

/** The process variables every service schema has (see `commonEnv`). */
interface ProcessEnv {
  PORT: number;
  HOST: string;
  SHUTDOWN_DELAY_MS: number;
  SHUTDOWN_TIMEOUT_MS: number;
}

export interface RunOptions<P extends TProperties, Config> {
  /** The service's environment schema; it must include `commonEnv(port)`. */
  envSchema: TObject<P>;
  /** Turns the validated environment into the config object `build` takes. */
  configFromEnv: (env: Static<TObject<P>>) => Config;
  build: (config: Config) => Promise<FastifyInstance>;
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/**
 * Process concerns only: config, listen, graceful shutdown. A bad variable stops the process
 * with one line naming it and exit code 1. On SIGTERM or SIGINT readiness goes 503, after
 * SHUTDOWN_DELAY_MS the server stops accepting, in-flight requests finish, clients close, exit 0;
 * SHUTDOWN_TIMEOUT_MS bounds the whole; buffered trace spans are sent last.
 */
export async function runService<P extends TProperties, Config>(
  options: RunOptions<P, Config>,
): Promise<void> {
  let env: Static<TObject<P>> & ProcessEnv;
  let config: Config;
  try {
    env = loadConfig(options.envSchema) as Static<TObject<P>> & ProcessEnv;
    config = options.configFromEnv(env);
  } catch (error) {
    fail(`Invalid configuration: ${(error as Error).message}`);
  }
  let app: FastifyInstance;
  try {
    app = await options.build(config);
  } catch (error) {
    fail(`Cannot start: ${(error as Error).message}`);
  }
  closeWithGrace({ delay: env.SHUTDOWN_TIMEOUT_MS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'fatal error, shutting down');
    else app.log.info({ signal }, 'shutting down');
    app.health.shuttingDown = true;
    if (env.SHUTDOWN_DELAY_MS > 0)
      await new Promise((resolve) => setTimeout(resolve, env.SHUTDOWN_DELAY_MS));
    await app.close();
    await stopTracing().catch(() => {});
  });
  try {
    await app.listen({ port: env.PORT, host: env.HOST });
  } catch (error) {
    await app.close().catch(() => {});
    fail(`Cannot listen: ${(error as Error).message}`);
  }
}
