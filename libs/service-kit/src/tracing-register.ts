// `import '@redis-patterns/service-kit/tracing'` as the first line of a service's server.ts:
// starts OpenTelemetry (when OTEL_EXPORTER_OTLP_ENDPOINT is set) before ioredis, pg and the
// HTTP modules load, so that their instrumentations can wrap them.
import { startTracing } from './tracing';

startTracing();
