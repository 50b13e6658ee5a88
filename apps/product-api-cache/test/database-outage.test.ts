import type { ServiceInstance } from '@redis-patterns/service-kit';
import { delay, type Replicas, topologiesUnderTest, until } from '@redis-patterns/testkit';
import {
  type Answer,
  cacheCall,
  cacheOnEveryReplica,
  log,
  postgresPerFile,
  range,
  serversPerBlock,
  servicePerBlock,
  standaloneServer,
} from './cache-harness';

const postgres = postgresPerFile({ faults: true });

describe.each(topologiesUnderTest())('PostgreSQL away or slow on %s', (kind) => {
  const servers = serversPerBlock(kind, postgres);

  describe('PostgreSQL SIGSTOP drill', () => {
    // The hits must outlast caching them and the 1.5 s pause on a busy machine.
    const ttlMs = 3000;
    const softTimeoutMs = 50;
    const hardTimeoutMs = 500;
    const replicas = servicePerBlock(2, servers, {
      l1Enabled: true,
      ttlMs,
      ttlJitter: 0,
      staleGraceMs: 10_000,
      softTimeoutMs,
      hardTimeoutMs,
    });

    it('serves hits and stale copies, answers 503 only for what it cannot serve, and stays ready', async () => {
      const staleIds = range(101, 10);
      const hitIds = range(111, 10);
      await cacheOnEveryReplica(replicas(), staleIds);
      await delay(ttlMs + 100);
      await cacheOnEveryReplica(replicas(), hitIds);
      const hits: Answer[] = [];
      const stale: Answer[] = [];
      const cold: Answer[] = [];
      const ready: Answer[] = [];
      let pausing = true;
      await postgres().pause();
      const pausedAt = Date.now();
      try {
        const probes = Promise.all(
          replicas().urls.map(async (url) => {
            while (pausing) ready.push(await cacheCall(`${url}/health/ready`));
          }),
        );
        // Three readers side by side for 1.5 s: hits, stale copies, and ids never cached.
        const during = () => Date.now() - pausedAt < 1500;
        await Promise.all([
          (async () => {
            for (let i = 0; during(); i += 1)
              hits.push(
                await cacheCall(`${replicas().url(i)}/products/${hitIds[i % hitIds.length]}`),
              );
          })(),
          (async () => {
            for (let i = 0; during(); i += 1)
              stale.push(
                await cacheCall(`${replicas().url(i)}/products/${staleIds[i % staleIds.length]}`),
              );
          })(),
          ...replicas().urls.map(async (url, replica) => {
            for (let i = 0; during(); i += 1)
              cold.push(await cacheCall(`${url}/products/${121 + replica * 50 + i}`));
          }),
        ]);
        pausing = false;
        await probes;
      } finally {
        pausing = false;
        await postgres().resume();
      }
      const slowest = (answers: Answer[]) => Math.round(Math.max(...answers.map((a) => a.ms)));
      log(
        `${kind} drill: ${hits.length} hits (slowest ${slowest(hits)} ms), ${stale.length} stale (slowest ${slowest(stale)} ms), ${cold.length} uncached 503 (${Math.round(Math.min(...cold.map((a) => a.ms)))}-${slowest(cold)} ms), ${ready.length} readiness probes`,
      );
      expect(hits.map((a) => `${a.status} ${a.cache}`)).toEqual(hits.map(() => '200 hit'));
      expect(stale.map((a) => `${a.status} ${a.cache}`)).toEqual(stale.map(() => '200 stale'));
      expect(slowest(stale)).toBeLessThan(softTimeoutMs + 150);
      expect(stale[0].headers['cache-control']).toMatch(/max-age=0, .*stale-if-error=[1-9]/);
      for (const answer of cold) {
        expect(answer.status).toBe(503);
        expect(answer.body).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
        expect(answer.headers['retry-after']).toBe('1');
        expect(answer.headers['cache-control']).toBe('no-store');
        expect(answer.ms).toBeGreaterThanOrEqual(hardTimeoutMs - 5);
        expect(answer.ms).toBeLessThan(hardTimeoutMs + 250);
      }
      expect(ready.length).toBeGreaterThan(2);
      expect(ready.map((a) => a.status)).toEqual(ready.map(() => 200));
      expect(ready.at(-1)?.body).toMatchObject({ checks: { postgres: 'degraded', serving: 'ok' } });

      // Back: what could not be served is served again, and cached.
      await until(
        'uncached reads served again',
        async () =>
          (await cacheCall(`${replicas().url(0)}/products/121`)).status === 200 || undefined,
        5000,
      );
    });
  });
});

// Replica-local logic (the waiting list of one replica) and whole-Redis outages: standalone.
describe('on standalone', () => {
  const servers = serversPerBlock('standalone', postgres);

  describe('readiness when Redis and PostgreSQL are both away', () => {
    const either = servicePerBlock(1, servers);
    const database = servicePerBlock(1, servers, {}, { readiness: 'database' });

    const readiness = async (replicas: () => Replicas<ServiceInstance>) =>
      cacheCall(`${replicas().url(0)}/health/ready`);

    it('drops readiness only when both are unusable (or, as configured, when PostgreSQL is)', async () => {
      const redis = standaloneServer(servers());
      expect((await readiness(either)).status).toBe(200);
      await postgres().pause();
      try {
        expect((await readiness(either)).status).toBe(200);
        const followsDatabase = await readiness(database);
        expect(followsDatabase.status).toBe(503);
        expect(followsDatabase.body).toMatchObject({ checks: { serving: 'down' } });
        await redis.pause();
        try {
          const down = await readiness(either);
          expect(down.status).toBe(503);
          expect(down.body).toMatchObject({ checks: { serving: 'down', postgres: 'degraded' } });
        } finally {
          await redis.resume();
        }
        await until(
          'ready again with Redis back',
          async () => (await readiness(either)).status === 200 || undefined,
          5000,
        );
      } finally {
        await postgres().resume();
      }
      await until(
        'ready again with PostgreSQL back',
        async () => (await readiness(database)).status === 200 || undefined,
        5000,
      );
    });
  });
});
