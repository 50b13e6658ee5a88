import {
  perFileFixture,
  startPostgres,
  startRedisServers,
  startReplicas,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  until,
  type RedisServer,
  type RedisTopology,
  type Replicas,
  httpCall,
  inParallel,
} from '@redis-patterns/testkit';
import { loadConfig, type ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { configFromEnv, envSchema } from '../src/config';
import {
  byStatus,
  expectNoOversell,
  STOCK,
  STORM,
  STORM_TIMEOUT_MS,
  testConfig,
  watchedStorm,
} from './inventory-harness';

// Guarantee: the service's own Redis may be standalone, a Cluster or Sentinel-managed (and fail
// over under load) without any oversell; the Redlock masters are always independent standalone
// servers, and the topology's own data nodes are refused as masters.

/** PostgreSQL and the Redlock masters of every topology suite. */
const shared = perFileFixture(async (cleanup) => {
  const postgres = await startPostgres();
  cleanup(() => postgres.stop());
  const lockMasters: RedisServer[] = await startRedisServers(3);
  cleanup(() => Promise.all(lockMasters.map((m) => m.stop())));
  return { postgres, lockMasters };
});

describe.each(topologiesUnderTest())(
  'inventory-lock with its Redis on %s and three independent standalone Redlock masters',
  (kind) => {
    let topology: RedisTopology;
    let databaseUrl: string;
    let r: Replicas<ServiceInstance>;
    perFileFixture(async (cleanup) => {
      const { postgres, lockMasters } = shared();
      const started = startTopology(kind).then((value) => {
        cleanup(() => value.stop());
        return value;
      });
      [topology, databaseUrl] = await Promise.all([started, postgres.createDatabase()]);
      const keyPrefix = uniquePrefix('inv');
      const replicas = await startReplicas(3, () =>
        buildApp({
          ...testConfig({
            redisUrl: lockMasters[0].url,
            lockUrls: lockMasters.map((m) => m.url),
            databaseUrl,
            keyPrefix,
          }),
          redis: { ...topology.config, commandTimeoutMs: 500 },
        }),
      );
      cleanup(() => replicas.close());
      r = replicas;
    });

    it('every replica is ready: its Redis and a quorum of lock votes', async () => {
      for (let i = 0; i < 3; i += 1) {
        const ready = await httpCall(r.url(i), 'GET', '/health/ready');
        expect(ready.status).toBe(200);
        expect(ready.body.checks).toMatchObject({ redis: 'ok', 'redlock-quorum': 'ok' });
      }
    });

    it(
      `${STORM} concurrent reservations of 1 on stock ${STOCK}: exactly ${STOCK}, never below 0`,
      async () => {
        expect(
          (await httpCall(r.url(0), 'PUT', '/inventory/hot', { body: { stock: STOCK } })).status,
        ).toBe(200);
        const { answers, watched } = await watchedStorm(r, databaseUrl, 'hot', 'storm');
        await expectNoOversell(r, databaseUrl, 'hot', answers, watched);
      },
      STORM_TIMEOUT_MS,
    );

    it('10 concurrent repeats of one orderId across replicas make one reservation', async () => {
      // Fresh per attempt, so a retry does not find the first attempt's reservation.
      const sku = uniquePrefix('repeat');
      const orderId = uniquePrefix('order');
      await httpCall(r.url(0), 'PUT', `/inventory/${sku}`, { body: { stock: 50 } });
      const answers = await inParallel(10, 10, (i) =>
        httpCall(r.url(i), 'POST', `/inventory/${sku}/reservations`, {
          body: {
            orderId,
            quantity: 3,
          },
        }),
      );
      expect(byStatus(answers)).toEqual({ 201: 1, 200: 9 });
      expect((await httpCall(r.url(2), 'GET', `/inventory/${sku}`)).body.stock).toBe(47);
    });

    it('REDLOCK_URLS unset: kept on standalone (one master), refused on Cluster and Sentinel', () => {
      const load = () => configFromEnv(loadConfig(envSchema, { ...topology.env }));
      if (kind === 'standalone') {
        expect(load().lock).toMatchObject({ urls: [topology.env.REDIS_URL], fromRedisUrl: true });
      } else {
        expect(load).toThrow(/^REDLOCK_URLS is unset and the service's Redis is/);
      }
    });

    if (kind !== 'standalone') {
      it(`this ${kind}'s data nodes given as Redlock masters: startup refused`, async () => {
        const refusalOf = async (lockUrls: string[]) => {
          const error = await buildApp(
            testConfig({
              redisUrl: shared().lockMasters[0].url,
              lockUrls,
              databaseUrl,
              keyPrefix: uniquePrefix('inv'),
            }),
          ).then(
            async (app) => {
              await app.close();
              return new Error('started');
            },
            (raised: Error) => raised,
          );
          return error.message;
        };
        const master = await topology.master();
        const replica = topology.servers.find((s) => s !== master) as RedisServer;
        const masterRefusal = await refusalOf([
          master.url,
          shared().lockMasters[1].url,
          shared().lockMasters[2].url,
        ]);
        const replicaRefusal = await refusalOf([shared().lockMasters[0].url, replica.url]);
        expect(masterRefusal).toMatch(/^REDLOCK_URLS: refusing/);
        expect(replicaRefusal).toMatch(/^REDLOCK_URLS: refusing/);
        if (kind === 'cluster') {
          expect(masterRefusal).toContain(`${master.port} is a Redis Cluster node`);
          expect(replicaRefusal).toContain(`${replica.port} is a Redis Cluster node`);
        } else {
          expect(masterRefusal).toContain(`${master.port} has 2 connected replica(s)`);
          expect(masterRefusal).toContain('is watched by Sentinel');
          expect(replicaRefusal).toContain(`${replica.port} is a replica (role:slave)`);
          const sentinel = topology.config.sentinels?.[0];
          const sentinelRefusal = await refusalOf([
            shared().lockMasters[0].url,
            `redis://${sentinel?.host}:${sentinel?.port}`,
          ]);
          expect(sentinelRefusal).toContain('is a Sentinel (redis_mode:sentinel)');
        }
      });

      it(
        `a failover of the service's Redis during the storm: still exactly ${STOCK}, no 5xx`,
        async () => {
          expect(
            (await httpCall(r.url(0), 'PUT', '/inventory/failover', { body: { stock: STOCK } }))
              .status,
          ).toBe(200);
          const [{ answers, watched }, failover] = await Promise.all([
            watchedStorm(r, databaseUrl, 'failover', 'failover'),
            topology.failover(),
          ]);
          await expectNoOversell(r, databaseUrl, 'failover', answers, watched);
          expect(failover.promotedMs).toBeGreaterThan(0);
          for (let i = 0; i < 3; i += 1) {
            const url = r.url(i);
            await until(
              `replica ${i} ready after the failover`,
              async () =>
                (await httpCall(url, 'GET', '/health/ready')).status === 200 ? true : undefined,
              15000,
            );
          }
        },
        STORM_TIMEOUT_MS,
      );
    }
  },
);
