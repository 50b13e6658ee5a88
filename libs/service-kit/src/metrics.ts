import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import fastifyMetrics from 'fastify-metrics';
import * as promClient from 'prom-client';

export interface Metrics {
  /** This instance's registry: replicas in one process (tests) must not share counters. */
  registry: promClient.Registry;
  counter<L extends string>(config: promClient.CounterConfiguration<L>): promClient.Counter<L>;
  gauge<L extends string>(config: promClient.GaugeConfiguration<L>): promClient.Gauge<L>;
  histogram<L extends string>(
    config: promClient.HistogramConfiguration<L>,
  ): promClient.Histogram<L>;
}

declare module 'fastify' {
  interface FastifyInstance {
    prom: Metrics;
  }
}

async function metricsPlugin(app: FastifyInstance): Promise<void> {
  const registry = new promClient.Registry();
  await app.register(fastifyMetrics, {
    name: 'httpMetrics',
    endpoint: null,
    defaultMetrics: { enabled: true, register: registry },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      routeBlacklist: ['/metrics', '/health/live', '/health/ready'],
      overrides: { histogram: { registers: [registry] }, summary: { registers: [registry] } },
    },
  });
  app.decorate<Metrics>('prom', {
    registry,
    counter: (config) => new promClient.Counter({ ...config, registers: [registry] }),
    gauge: (config) => new promClient.Gauge({ ...config, registers: [registry] }),
    histogram: (config) => new promClient.Histogram({ ...config, registers: [registry] }),
  });
  app.get(
    '/metrics',
    { logLevel: 'warn', schema: { tags: ['health'], summary: 'Prometheus metrics', hide: false } },
    async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
}

/**
 * Prometheus metrics: prom-client's default process metrics and an HTTP request duration
 * histogram by method, route and status (fastify-metrics), plus `app.prom` for a service's own.
 */
export default fp(metricsPlugin, { name: '@redis-patterns/metrics', fastify: '5.x' });
