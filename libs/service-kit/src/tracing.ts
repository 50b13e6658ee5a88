import { basename, dirname } from 'node:path';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

// The SDK is loaded only when tracing is on: a service without an endpoint pays nothing.
/* eslint-disable @typescript-eslint/no-require-imports */
const sdk = () => ({
  ...(require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http')),
  ...(require('@opentelemetry/instrumentation') as typeof import('@opentelemetry/instrumentation')),
  ...(require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http')),
  ...(require('@opentelemetry/instrumentation-ioredis') as typeof import('@opentelemetry/instrumentation-ioredis')),
  ...(require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg')),
  ...(require('@opentelemetry/instrumentation-undici') as typeof import('@opentelemetry/instrumentation-undici')),
  ...(require('@opentelemetry/resources') as typeof import('@opentelemetry/resources')),
  ...(require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node')),
});
/* eslint-enable @typescript-eslint/no-require-imports */

/** Probes and scrapes are not traced: they would drown the requests worth reading. */
const UNTRACED_PATHS = /^\/(health\/|metrics$|docs)/;

let provider: NodeTracerProvider | undefined;

/**
 * The service's name in traces: OTEL_SERVICE_NAME, else the app directory of the entry point
 * (`apps/<name>/dist/server.js`, the same in the image and on `npm start`).
 */
export function serviceNameOf(env: NodeJS.ProcessEnv, entry = process.argv[1] ?? ''): string {
  if (env.OTEL_SERVICE_NAME) return env.OTEL_SERVICE_NAME;
  const match = /[/\\]apps[/\\]([^/\\]+)[/\\]/.exec(entry);
  return match?.[1] ?? basename(dirname(entry));
}

/**
 * OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (the standard variable;
 * the exporter also reads the other OTEL_EXPORTER_OTLP_* ones): server and client HTTP spans
 * (Node's http and undici, so the gateway carries W3C `traceparent` to the service it calls),
 * one span per ioredis command and per pg query. Instrumentations patch modules as they are
 * loaded, so this runs before anything imports ioredis or pg: `server.ts` imports
 * `@redis-patterns/service-kit/tracing` on its first line. Returns whether tracing started.
 */
export function startTracing(env: NodeJS.ProcessEnv = process.env): boolean {
  if (provider || !env.OTEL_EXPORTER_OTLP_ENDPOINT) return provider !== undefined;
  const {
    BatchSpanProcessor,
    HttpInstrumentation,
    IORedisInstrumentation,
    NodeTracerProvider,
    OTLPTraceExporter,
    PgInstrumentation,
    UndiciInstrumentation,
    registerInstrumentations,
    resourceFromAttributes,
  } = sdk();
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceNameOf(env) }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
      }),
      new UndiciInstrumentation(),
      new IORedisInstrumentation({ requireParentSpan: true }),
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  return true;
}

/**
 * Whether this process traces. A proxy then drops an incoming `traceparent`/`tracestate`: the
 * HTTP client instrumentation writes its own (a child of the incoming one), and two values of
 * one header would start a new trace upstream.
 */
export function isTracing(): boolean {
  return provider !== undefined;
}

/** Sends the spans still buffered, then stops; a no-op when tracing is off. */
export async function stopTracing(): Promise<void> {
  const running = provider;
  provider = undefined;
  await running?.shutdown();
}
