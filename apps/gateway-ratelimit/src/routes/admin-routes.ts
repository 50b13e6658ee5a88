import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { DomainError } from '@redis-patterns/service-kit';
import type { AdminListen } from '../config';
import { ADMIN_ONLY_ROUTE } from './admin-schemas';
import { PROXIED_ROUTE } from './proxy-schemas';

declare module 'fastify' {
  interface FastifyInstance {
    /** The admin port's server (`/metrics`, `/docs`, the probes); listening once the app is ready. */
    adminServer: Server;
  }
}

function notFound(request: FastifyRequest): DomainError {
  return new DomainError(404, 'NOT_FOUND', `Route ${request.method}:${request.url} not found`);
}

/**
 * The operator surface on its own port: `/metrics` and `/docs` are refused (404) on the public
 * port, where every client of the system arrives, and answered on `admin.port` (bound to the
 * same host), which a NetworkPolicy opens to Prometheus only. The probes answer on both, so kube
 * probes and load balancers keep using the public port. The admin port proxies nothing.
 */
async function adminRoutesPlugin(app: FastifyInstance, admin: AdminListen): Promise<void> {
  const adminRequests = new WeakSet<IncomingMessage>();
  const server = createServer((request, response) => {
    adminRequests.add(request);
    app.routing(request, response);
  });
  app.decorate('adminServer', server);
  let publicPort: number | undefined;
  const onPublicPort = (request: FastifyRequest) => {
    publicPort ??= (app.server.address() as AddressInfo | null)?.port;
    return publicPort !== undefined && request.raw.socket.localPort === publicPort;
  };

  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    if (adminRequests.has(request.raw)) {
      if (route === undefined || route === PROXIED_ROUTE) throw notFound(request);
    } else if (route !== undefined && ADMIN_ONLY_ROUTE.test(route) && onPublicPort(request)) {
      throw notFound(request);
    }
  });

  app.addHook('onReady', async () => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(admin.port, admin.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    app.log.info({ address: server.address() }, 'admin port listening');
  });
  app.addHook('onClose', async () => {
    if (!server.listening) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
}

export const adminRoutes = fp(adminRoutesPlugin, {
  name: 'gateway-ratelimit-admin-routes',
  fastify: '5.x',
  dependencies: ['@redis-patterns/health', '@redis-patterns/metrics', '@redis-patterns/openapi'],
});
