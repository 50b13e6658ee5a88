import { runService } from '@redis-patterns/service-kit';
import { buildApp } from './app';
import { configFromEnv, envSchema } from './config';

void runService({ envSchema, configFromEnv, build: buildApp });
