import { join } from 'node:path';
import {
  buildService,
  registerPostgres,
  registerRedis,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';
import catalogPlugin from './catalog/catalog-plugin';
import cachePlugin from './cache/cache-plugin';
import outboxPlugin from './cache/outbox-plugin';
import { addServingCheck } from './health/serving-check';
import { productListRoutes } from './routes/product-list-routes';
import { productRoutes } from './routes/product-routes';
import type { ProductRoutesOptions } from './routes/route-options';

/**
 * Builds product-api-cache from a config object: the skeleton, its Redis and PostgreSQL, the
 * catalogue, the cache tiers, the outbox, readiness, the routes.
 */
export function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const service = {
    name: 'product-api-cache',
    description:
      'Cache-aside in front of PostgreSQL: fewer database reads, faster answers, never stale after a write.',
    logLevel: config.logLevel,
  };
  return buildService(service, async (app) => {
    await registerRedis(app, { config: config.redis, readiness: 'startup' });
    await registerPostgres(app, config.database, {
      migrationsDir: join(__dirname, '..', 'migrations'),
      // Reported, but readiness is the policy below: a replica whose PostgreSQL is away still
      // serves its hits and stale copies.
      critical: false,
    });
    await app.register(catalogPlugin);
    await app.register(cachePlugin, { config });
    await app.register(outboxPlugin, { config });
    addServingCheck(app, config);
    const routes: ProductRoutesOptions = {
      cacheRequests: app.prom.counter({
        name: 'cache_requests_total',
        help: 'Cached reads (one product or one page), by where the answer came from',
        labelNames: ['result'],
      }),
      freshness: {
        httpMaxAgeMs: config.cache.httpMaxAgeMs,
        staleGraceMs: config.cache.staleGraceMs,
      },
    };
    await app.register(productRoutes, routes);
    await app.register(productListRoutes, routes);
  });
}
