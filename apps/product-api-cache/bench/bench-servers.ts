// The servers under test, in a process of their own so that the load generator (autocannon in
// the parent) does not share their event loop. Prints one JSON line with the URLs, then serves
// until SIGTERM. Not a test or a product: only product-api-cache.bench.ts starts it.
import { buildApp } from '../src/app';
import { defaultCacheConfig, type AppConfig, type CacheConfig } from '../src/config';
import { productCacheValue } from '../src/catalog/cache-groups';

const redisUrl = process.env.BENCH_REDIS_URL ?? '';
const databaseUrl = process.env.BENCH_DATABASE_URL ?? '';

function config(prefix: string, cache: Partial<CacheConfig>): AppConfig {
  return {
    logLevel: 'warn',
    redis: { url: redisUrl, commandTimeoutMs: 500 },
    keyPrefix: prefix,
    database: { url: databaseUrl, poolSize: 10, statementTimeoutMs: 5000 },
    cache: defaultCacheConfig(cache),
    readiness: 'either',
  };
}

async function main(): Promise<void> {
  const withL1 = await buildApp(config('bench-l1', { l1Enabled: true }));
  const product = productCacheValue(await withL1.productStore.byId(1));
  // The ceiling: the same bytes from memory, through the same Fastify instance and hooks.
  withL1.get('/bench/static', async (_request, reply) =>
    reply.type('application/json; charset=utf-8').header('etag', product.etag).send(product.body),
  );
  const apps = {
    l1: withL1,
    redis: await buildApp(config('bench-redis', { l1Enabled: false })),
    nocache: await buildApp(config('bench-nocache', { enabled: false })),
    stampedeA: await buildApp(config('bench-stampede', {})),
    stampedeB: await buildApp(config('bench-stampede', {})),
  };
  const urls: Record<string, string> = {};
  for (const [name, app] of Object.entries(apps)) {
    urls[name] = await app.listen({ port: 0, host: '127.0.0.1' });
  }
  process.stdout.write(`${JSON.stringify(urls)}\n`);
  process.once('SIGTERM', () => {
    void Promise.allSettled(Object.values(apps).map((app) => app.close())).then(() =>
      process.exit(0),
    );
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench servers failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
