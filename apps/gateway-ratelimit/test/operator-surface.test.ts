import type { AddressInfo } from 'node:net';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { httpCall, perFileFixture, startRedis, uniquePrefix } from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { adminUrl, startUpstreams, testConfig } from './gateway-harness';

// The gateway's own operator surface (/metrics, /docs) is served on its admin port only; the
// public port, where every client arrives, answers 404 for it and keeps the probes; no upstream's
// /metrics, /docs or health is reachable through it (the echo upstreams would answer 200 to any
// path that leaked). The Redis topology changes none of this: standalone is enough.
const fixture = perFileFixture(async (cleanup) => {
  const redis = await startRedis();
  cleanup(() => redis.stop());
  const upstreams = await startUpstreams();
  cleanup(() => Promise.all(upstreams.all.map((u) => u.close())));
  const gateway: ServiceInstance = await buildApp(
    testConfig({
      redis: redis.url,
      keyPrefix: uniquePrefix('gw-admin'),
      upstreams: upstreams.urls,
    }),
  );
  cleanup(() => gateway.close());
  const url = await gateway.listen({ port: 0, host: '127.0.0.1' });
  return { gateway, url, admin: adminUrl(gateway) };
});

const OPERATOR_PATHS = [
  '/metrics',
  '/docs',
  '/docs/',
  '/docs/json',
  '/docs/yaml',
  '/docs/static/index.html',
];

describe('gateway-ratelimit: the operator surface is never public', () => {
  it('refuses /metrics and /docs on the public port, serves them on the admin port, and keeps the probes on both', async () => {
    const { url, admin, gateway } = fixture();
    expect((gateway.adminServer.address() as AddressInfo).address).toBe('127.0.0.1');
    expect(new URL(admin).port).not.toBe(new URL(url).port);
    // One proxied request, so that the gateway's own metrics have a sample to show.
    expect((await httpCall(url, 'GET', '/api/products/1')).status).toBe(200);
    const metrics = await httpCall(admin, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(
      /gateway_upstream_duration_seconds_count\{upstream="products",outcome="response"\} 1\n/,
    );
    expect(metrics.text).toMatch(
      /ratelimit_decisions_total\{policy="default",result="allowed"\} 1\n/,
    );
    for (const path of OPERATOR_PATHS) {
      const answer = await httpCall(url, 'GET', path);
      expect([path, answer.status, answer.body.code]).toEqual([path, 404, 'NOT_FOUND']);
    }
    for (const path of ['/%6detrics', '/metrics/', '/docs//json', '/x/../metrics']) {
      expect([path, (await httpCall(url, 'GET', path)).status]).toEqual([path, 404]);
    }
    expect((await httpCall(admin, 'GET', '/docs/json')).status).toBe(200);
    expect((await httpCall(admin, 'GET', '/docs')).status).toBeLessThan(400);
    for (const base of [url, admin]) {
      expect((await httpCall(base, 'GET', '/health/live')).status).toBe(200);
      expect((await httpCall(base, 'GET', '/health/ready')).status).toBe(200);
    }
  });

  it('proxies nothing and limits nothing on the admin port', async () => {
    const { admin } = fixture();
    for (const path of ['/api/products/1', '/chat/metrics', '/socket.io/', '/no/such/route']) {
      const answer = await httpCall(admin, 'GET', path);
      expect([path, answer.status, answer.headers.get('ratelimit-policy')]).toEqual([
        path,
        404,
        null,
      ]);
    }
    // The one proxied request of the first test is still the only one that reached an upstream.
    const metrics = await httpCall(admin, 'GET', '/metrics');
    expect(metrics.text).toMatch(
      /gateway_upstream_duration_seconds_count\{upstream="products",outcome="response"\} 1\n/,
    );
  });

  it('never exposes an upstream /metrics, /docs or health through the public port', async () => {
    for (const path of [
      '/chat/metrics',
      '/chat/docs',
      '/chat/docs/json',
      '/chat/health/ready',
      '/chat/%6detrics',
      '/chat/x/../metrics',
      '/chat//metrics',
    ]) {
      const answer = await httpCall(fixture().url, 'GET', path);
      expect([path, answer.status]).toEqual([path, 404]);
    }
  });

  it('documents the public API only: no proxied method appears as a route of its own', async () => {
    const docs = await httpCall(fixture().admin, 'GET', '/docs/json');
    const paths = Object.keys((docs.body as { paths: object }).paths);
    expect(paths.sort()).toEqual(['/health/live', '/health/ready', '/metrics']);
  });
});
