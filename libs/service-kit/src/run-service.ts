import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import { ConfigError } from './env-config';

export interface RunOptions<Config> {
  /** Reads and validates the environment; a ConfigError stops the process with exit code 1. */
  loadConfig: () => Config;
  build: (config: Config) => Promise<FastifyInstance>;
  port: (config: Config) => number;
  host: (config: Config) => string;
  /** Time to stay up answering 503 on readiness after SIGTERM. @default 0 */
  shutdownDelayMs?: (config: Config) => number;
  /** Hard limit of the graceful shutdown. @default 10000 */
  shutdownTimeoutMs?: (config: Config) => number;
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/**
 * Process concerns only: config, listen, graceful shutdown. On SIGTERM or SIGINT readiness goes
 * 503, after the optional delay the server stops accepting, in-flight requests finish, clients
 * close, exit 0.
 */
export async function runService<Config>(options: RunOptions<Config>): Promise<void> {
  let config: Config;
  try {
    config = options.loadConfig();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof Error)
      fail(`Invalid configuration: ${error.message}`);
    throw error;
  }
  let app: FastifyInstance;
  try {
    app = await options.build(config);
  } catch (error) {
    fail(`Cannot start: ${(error as Error).message}`);
  }
  const delayMs = options.shutdownDelayMs?.(config) ?? 0;
  closeWithGrace(
    { delay: options.shutdownTimeoutMs?.(config) ?? 10000 },
    async ({ signal, err }) => {
      if (err) app.log.error({ err }, 'fatal error, shutting down');
      else app.log.info({ signal }, 'shutting down');
      app.health.shuttingDown = true;
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      await app.close();
    },
  );
  try {
    await app.listen({ port: options.port(config), host: options.host(config) });
  } catch (error) {
    await app.close().catch(() => {});
    fail(`Cannot listen: ${(error as Error).message}`);
  }
}
