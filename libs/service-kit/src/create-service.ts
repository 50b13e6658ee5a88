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
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The skeleton every service shares: logging with request ids (cookies and credentials
 * redacted), the error envelope, health, metrics and OpenAPI. The service adds its routes.
 */
export async function createService(options: ServiceOptions): Promise<ServiceInstance> {
  const app = Fastify({
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
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // Requests in flight when close starts finish, then their keep-alive sockets end: without
  // this, close waits out keepAliveTimeout (72 s) for clients that hold the socket open.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.addSchema(ErrorBody);
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
