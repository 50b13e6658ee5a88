// First: OpenTelemetry's instrumentations wrap ioredis, pg and http as they are loaded.
import '@redis-patterns/service-kit/tracing';
import { runService } from '@redis-patterns/service-kit';
import { buildApp } from './app';
import { configFromEnv, envSchema } from './config';

void runService({ envSchema, configFromEnv, build: buildApp });
