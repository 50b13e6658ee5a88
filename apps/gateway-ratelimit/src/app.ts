import { createKeyBuilder } from '@redis-patterns/redis-core';
import {
  createService,
  DomainError,
  registerRedis,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';
import { registerProxy } from './proxy/proxy-plugin';
import { registerRateLimit } from './rate-limit/rate-limit-plugin';

/** Builds gateway-ratelimit from a config object: the skeleton, its Redis, its routes. */
export async function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const app = await createService({
    name: 'gateway-ratelimit',
    description:
      'The API gateway: proxies to every service with per-client rate limits that hold across all replicas.',
    logLevel: config.logLevel,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
  });
  try {
    await registerRedis(app, { config: config.redis, readiness: 'startup' });
    await registerRateLimit(app, {
      policies: config.policies,
      keys: createKeyBuilder(config.keyPrefix).child('rl'),
      enabled: config.rateLimitEnabled,
    });
    // Bodies the default parsers do not know are kept as raw bytes, replayable on a retry.
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) =>
      done(null, body),
    );
    // Refuse an oversized declared body before reading it (Fastify's bodyLimit also applies).
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
    await registerProxy(app, { upstreams: config.upstreams, timeoutMs: config.upstreamTimeoutMs });
  } catch (error) {
    // A half-built instance still holds timers (metrics); release them before failing boot.
    await app.close().catch(() => {});
    throw error;
  }
  return app;
}
