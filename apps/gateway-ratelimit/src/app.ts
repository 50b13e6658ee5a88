import { buildService, registerRedis, type ServiceInstance } from '@redis-patterns/service-kit';
import type { AppConfig } from './config';
import gatewayRequest from './proxy/gateway-request';
import proxy from './proxy/proxy-plugin';
import { rateLimitKeyBuilder } from './rate-limit/rate-limit-keys';
import rateLimit from './rate-limit/rate-limit-plugin';
import { adminRoutes } from './routes/admin-routes';
import { proxyRoutes } from './routes/proxy-routes';
import { GATEWAY_DESCRIPTION } from './routes/proxy-schemas';

/** Builds gateway-ratelimit from a config object: the skeleton, its Redis, its plugins and routes. */
export function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const service = {
    name: 'gateway-ratelimit',
    description: GATEWAY_DESCRIPTION,
    logLevel: config.logLevel,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    // SSE streams and WebSocket upgrades through the gateway never end by themselves: after the
    // drain delay (SHUTDOWN_DELAY_MS, readiness 503) close ends every connection.
    forceCloseConnections: true,
  };
  return buildService(service, async (app) => {
    // Every proxied request is one limiter EVALSHA: under load, those issued in the same turn
    // of the event loop go out in one write instead of one syscall each.
    await registerRedis(app, {
      config: { ...config.redis, autoPipelining: true },
      readiness: 'startup',
    });
    await app.register(gatewayRequest);
    await app.register(adminRoutes, config.admin);
    await app.register(rateLimit, {
      policies: config.policies,
      policiesFile: config.policiesFile,
      apiKeys: config.apiKeys,
      keys: rateLimitKeyBuilder(config.keyPrefix),
      enabled: config.rateLimitEnabled,
      replicas: config.rateLimitReplicas,
      breaker: { resetMs: config.breakerResetMs },
    });
    await app.register(proxy, {
      upstreams: config.upstreams,
      timeoutMs: config.upstreamTimeoutMs,
      streamIdleTimeoutMs: config.streamIdleTimeoutMs,
      bodyLimit: config.bodyLimit,
      trustProxy: config.trustProxy,
    });
    await app.register(proxyRoutes);
  });
}
