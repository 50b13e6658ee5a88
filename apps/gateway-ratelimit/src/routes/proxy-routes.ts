import type { FastifyInstance, LogLevel } from 'fastify';
import fp from 'fastify-plugin';
import { PROXY_PLUGIN } from '../proxy/proxy-plugin';
import { RATE_LIMIT_PLUGIN } from '../rate-limit/rate-limit-plugin';
import { PROXIED_METHODS, PROXIED_ROUTE, proxiedRouteSchema } from './proxy-schemas';

const QUIETER: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * The one catch-all route of the proxied surface: every path the gateway's own routes do not
 * claim goes to `app.gatewayProxy` (which answers 404 for a path no prefix maps), after the
 * rate-limit hooks have decided it.
 */
async function proxyRoutesPlugin(app: FastifyInstance): Promise<void> {
  const proxy = app.gatewayProxy;
  await app.register(async (scope) => {
    // Bodies stay the bytes the client sent: no JSON parse and re-serialise (which would round
    // big integers, merge duplicate keys and replace invalid UTF-8) whatever the content type.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: proxy.bodyLimit },
      (_request, raw, done) => done(null, raw),
    );
    scope.route({
      method: PROXIED_METHODS,
      url: PROXIED_ROUTE,
      schema: proxiedRouteSchema,
      // No access log per proxied request (two lines each at info), but warnings and errors.
      logLevel:
        QUIETER.indexOf(app.log.level) >= QUIETER.indexOf('warn')
          ? (app.log.level as LogLevel)
          : 'warn',
      handler: proxy.forward,
    });
  });
}

export const proxyRoutes = fp(proxyRoutesPlugin, {
  name: 'gateway-ratelimit-proxy-routes',
  fastify: '5.x',
  dependencies: [PROXY_PLUGIN, RATE_LIMIT_PLUGIN],
});
