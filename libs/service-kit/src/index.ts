export * from './env-config';
export * from './domain-error';
export * from './error-handler';
export * from './create-service';
export * from './run-service';
export * from './redis';
export { default as healthPlugin, type Health, type HealthCheck } from './health';
export { default as metricsPlugin, type Metrics } from './metrics';
export {
  default as postgresPlugin,
  createPool,
  runMigrations,
  type PostgresOptions,
} from './postgres';
