import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

export interface OpenApiOptions {
  title: string;
  description: string;
  version: string;
}

async function openApiPlugin(app: FastifyInstance, options: OpenApiOptions): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: { title: options.title, description: options.description, version: options.version },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', logLevel: 'warn' });
}

/** OpenAPI generated from the route schemas, at `/docs` (UI) and `/docs/json`. */
export default fp(openApiPlugin, { name: '@redis-patterns/openapi', fastify: '5.x' });
