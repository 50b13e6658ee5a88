import {
  createService,
  DomainError,
  registerRedis,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';
import gatewayRequest from './proxy/gateway-request';
import proxy from './proxy/proxy-plugin';
import { PROXY_ROUTES } from './proxy/proxy-routes';
import { ApiKeyRegistry } from './rate-limit/api-key-registry';
import { rateLimitKeyBuilder } from './rate-limit/rate-limit-keys';
import rateLimit from './rate-limit/rate-limit-plugin';

const routeMap = PROXY_ROUTES.map(
  (route) => `\`${route.prefix}/*\` → ${route.upstream} \`${route.rewritePrefix}\``,
).join(', ');

/** Builds gateway-ratelimit from a config object: the skeleton, its Redis, its routes. */
export async function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const app = await createService({
    name: 'gateway-ratelimit',
    // The proxied routes are each service's own API (see its /docs inside the cluster); this
    // document describes the gateway's own surface and its map instead of one entry per method.
    description: `The API gateway: proxies to every service with per-client rate limits that hold across all replicas. Routes: ${routeMap}. Every proxied answer may also be 400 (INVALID_PATH, INVALID_FORWARDED_FOR, INVALID_API_KEY), 401 INVALID_API_KEY, 404, 413, 429 RATE_LIMITED, 502, 503 RATE_LIMIT_UNAVAILABLE or 504 in the error envelope.`,
    logLevel: config.logLevel,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    // SSE streams and WebSocket upgrades through the gateway never end by themselves: after the
    // drain delay (SHUTDOWN_DELAY_MS, readiness 503) close ends every connection.
    forceCloseConnections: true,
  });
  try {
    await registerRedis(app, { config: config.redis, readiness: 'startup' });
    await app.register(gatewayRequest);
    await app.register(rateLimit, {
      policies: config.policies,
      policiesFile: config.policiesFile,
      apiKeys: config.apiKeys ?? ApiKeyRegistry.empty(),
      keys: rateLimitKeyBuilder(config.keyPrefix),
      enabled: config.rateLimitEnabled,
      replicas: config.rateLimitReplicas,
      breaker: { resetMs: config.breakerResetMs },
    });
    // Refuse an oversized declared body before reading it (the body parser also applies it).
    app.addHook('onRequest', async (request) => {
      const length = Number(request.headers['content-length'] ?? 0);
      if (length > config.bodyLimit) {
        throw new DomainError(
          413,
          'PAYLOAD_TOO_LARGE',
          `Request body is larger than ${config.bodyLimit} bytes`,
        );
      }
    });
    await app.register(proxy, {
      upstreams: config.upstreams,
      timeoutMs: config.upstreamTimeoutMs,
      streamIdleTimeoutMs: config.streamIdleTimeoutMs ?? 75000,
      bodyLimit: config.bodyLimit,
      trustProxy: config.trustProxy,
    });
  } catch (error) {
    // A half-built instance still holds timers (metrics); release them before failing boot.
    await app.close().catch(() => {});
    throw error;
  }
  return app;
}
