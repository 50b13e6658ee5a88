import { loadConfig, runService } from '@redis-patterns/service-kit';
import { buildApp } from './app';
import { configFromEnv, envSchema, type Env } from './config';

let env: Env;
void runService({
  loadConfig: () => {
    env = loadConfig(envSchema);
    return configFromEnv(env);
  },
  build: buildApp,
  port: () => env.PORT,
  host: () => env.HOST,
  shutdownDelayMs: () => env.SHUTDOWN_DELAY_MS,
  shutdownTimeoutMs: () => env.SHUTDOWN_TIMEOUT_MS,
});
