// The benchmark's baseline: the service with scores recorded in Redis only, as before
// PostgreSQL became the source of truth. Never deployed.
import { runService } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { configFromEnv, envSchema } from '../src/config';

void runService({
  envSchema,
  configFromEnv: (env) => ({ ...configFromEnv(env), recordScores: false }),
  build: buildApp,
});
