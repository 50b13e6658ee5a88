import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawServerDefault,
} from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import healthPlugin from './health';
import metricsPlugin from './metrics';
import openApiPlugin from './openapi';
import { ErrorBody, installErrorHandler } from './error-handler';
import { DomainError } from './domain-error';
import { strictBodyValidation } from './validation';

/** A service's Fastify instance, with TypeBox schemas typing each route. */
export type ServiceInstance = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface ServiceOptions {
  /** Service name, shown in logs and OpenAPI. */
  name: string;
  /** One sentence: the problem the service solves (OpenAPI description). */
  description: string;
  /** @default '0.1.0' */
  version?: string;
  /** Pino level; `silent` in tests. @default 'info' */
  logLevel?: string;
  /** Largest accepted request body in bytes. @default 1048576 */
  bodyLimit?: number;
  /** Trust X-Forwarded-* from proxies (`true`, hop count, or address list). @default false */
  trustProxy?: boolean | string | string[];
  /** Deadline of one readiness answer. @default 800 */
  healthTimeoutMs?: number;
  /** Server timeouts; see `ServerTimeouts`. */
  timeouts?: Partial<ServerTimeouts>;
  /**
   * What `close()` does to open connections: `idle` lets requests in flight finish; `true` ends
   * every connection (a proxy whose streams and upgrades would otherwise hold close forever).
   * @default 'idle'
   */
  forceCloseConnections?: 'idle' | boolean;
}

/**
 * How long a client may take, so that a slow or silent client cannot hold a connection (and
 * its memory) forever. Streaming responses (SSE, WebSocket) are not bound by the request
 * timeouts, which end once the request is received; they keep the socket busy with their own
 * heartbeats, well inside `idleMs`.
 */
export interface ServerTimeouts {
  /** Whole request, headers and body, received within this; else 408. @default 30000 */
  requestMs: number;
  /** Request headers received within this; else 408. @default 10000 */
  headersMs: number;
  /** A kept-alive socket with no request is closed after this. @default 72000 */
  keepAliveMs: number;
  /** A socket with no traffic at all (not even a heartbeat) is destroyed after this. @default 120000 */
  idleMs: number;
  /** How often Node checks the request and header deadlines. @default 1000 */
  checkIntervalMs: number;
}

export const DEFAULT_SERVER_TIMEOUTS: ServerTimeouts = {
  requestMs: 30000,
  headersMs: 10000,
  keepAliveMs: 72000,
  idleMs: 120000,
  checkIntervalMs: 1000,
};

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The skeleton every service shares: logging with request ids (cookies and credentials
 * redacted), the error envelope, health, metrics and OpenAPI. The service adds its routes.
 */
export async function createService(options: ServiceOptions): Promise<ServiceInstance> {
  const timeouts = { ...DEFAULT_SERVER_TIMEOUTS, ...options.timeouts };
  const app = Fastify({
    http: {
      headersTimeout: timeouts.headersMs,
      connectionsCheckingInterval: timeouts.checkIntervalMs,
    },
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    connectionTimeout: timeouts.idleMs,
    logger: {
      level: options.logLevel ?? 'info',
      name: options.name,
      redact: [
        'req.headers.cookie',
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'res.headers["set-cookie"]',
      ],
    },
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    trustProxy: options.trustProxy ?? false,
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    schemaController: strictBodyValidation(),
    forceCloseConnections: options.forceCloseConnections ?? 'idle',
    // Answered below instead, with a code: Fastify's own 503 carries none, so a proxy could not
    // tell "never processed, safe to send to another replica" from a service's real 503.
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Requests in flight when close starts finish, then their keep-alive sockets end: without
  // this, close waits out keepAliveTimeout (72 s) for clients that hold the socket open.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // A request that arrives once close began is not processed at all, so it may be replayed
    // anywhere, writes included (the gateway does): SHUTTING_DOWN promises exactly that.
    if (closing) {
      throw new DomainError(
        503,
        'SHUTTING_DOWN',
        'This replica is shutting down and did not process the request: send it again',
        { 'retry-after': '0' },
      );
    }
  });
  app.addHook('onSend', async (_request, reply) => {
    // Draining too (readiness 503, before close): each client's keep-alive socket ends after
    // its next answer, so none is left idle for close to cut while a request is on its way.
    if (closing || app.health.shuttingDown) reply.header('connection', 'close');
  });
  app.addSchema(ErrorBody);
  // Fastify itself may answer these on any route (bad input, body too large, URL too long,
  // unsupported media type, shutting down): declare them wherever a route declares its responses.
  app.addHook('onRoute', (route) => {
    const response = route.schema?.response as Record<string, unknown> | undefined;
    if (!response) return;
    // In the form the route already uses: an inline ErrorBody and a $ref to it do not mix.
    const same = Object.values(response).find(
      (schema) =>
        (schema as { $id?: string }).$id === 'ErrorBody' ||
        /^ErrorBody#?$/.test((schema as { $ref?: string }).$ref ?? ''),
    );
    // 503: a replica that is shutting down answers SHUTTING_DOWN on every route.
    for (const status of ['400', '413', '414', '415', '503']) {
      if (!(status in response)) response[status] = same ?? ErrorBody;
    }
  });
  installErrorHandler(app);
  await app.register(openApiPlugin, {
    title: options.name,
    description: options.description,
    version: options.version ?? '0.1.0',
  });
  await app.register(healthPlugin, { timeoutMs: options.healthTimeoutMs });
  await app.register(metricsPlugin);
  return app;
}

/**
 * A service's `buildApp`: the skeleton, then the service's own assembly (its Redis, its pools,
 * its plugins and routes). A boot that fails closes whatever it had opened before the error
 * propagates, so a half-built instance leaks no connection, pool or timer.
 */
export async function buildService(
  options: ServiceOptions,
  assemble: (app: ServiceInstance) => Promise<void>,
): Promise<ServiceInstance> {
  const app = await createService(options);
  try {
    await assemble(app);
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}
