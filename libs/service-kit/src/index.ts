export * from './env-config';
export * from './domain-error';
export * from './error-handler';
export * from './create-service';
export * from './text-schema';
export * from './validation';
export * from './run-service';
export * from './proxy-settings';
export { isTracing, serviceNameOf, startTracing, stopTracing } from './tracing';
export * from './redis';
export { default as healthPlugin, type Health, type HealthCheck } from './health';
export { default as metricsPlugin, type Metrics } from './metrics';
export {
  default as postgresPlugin,
  createPool,
  databaseConfigOf,
  isDatabaseUnavailable,
  registerPostgres,
  runMigrations,
  type DatabaseConfig,
  type PostgresOptions,
} from './postgres';
export * from './origin-policy';
