import {
  uniquePrefix,
  startPostgres,
  startRedis,
  startRedisServers,
  startReplicas,
  startTopology,
  topologiesUnderTest,
  until,
  type PostgresServer,
  type RedisServer,
  type RedisTopology,
  type Replicas,
} from '@redis-patterns/testkit';
import { loadConfig, type ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { configFromEnv, envSchema } from '../src/config';
import { byStatus, call, sql, testConfig, type Answer } from './support';

const STORM = 500;
const STOCK = 100;

interface Watch {
  stop(): Promise<{ samples: number; minStock: number; brokenSums: number[] }>;
}

/** Samples stock and stock + reserved in one snapshot every few ms while a storm runs. */
function watchStock(databaseUrl: string, sku: string, initial: number): Watch {
  let running = true;
  const sums: number[] = [];
  let minStock = Infinity;
  let samples = 0;
  const loop = (async () => {
    while (running) {
      const [row] = await sql<{ stock: string; total: string }>(
        databaseUrl,
        `SELECT i.stock, i.stock + COALESCE((SELECT SUM(quantity) FROM reservations r
           WHERE r.sku = i.sku AND r.status = 'reserved'), 0) AS total
         FROM inventory i WHERE i.sku = $1`,
        [sku],
      );
      samples += 1;
      minStock = Math.min(minStock, Number(row.stock));
      if (Number(row.total) !== initial) sums.push(Number(row.total));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { samples, minStock, brokenSums: sums };
    },
  };
}

function storm(replicas: Replicas<ServiceInstance>, sku: string, tag: string): Promise<Answer[]> {
  return Promise.all(
    Array.from({ length: STORM }, (_, i) =>
      call(`${replicas.url(i)}/inventory/${sku}/reservations`, 'POST', {
        orderId: `${tag}-${i}`,
        quantity: 1,
      }),
    ),
  );
}

/** The storm while a sampler watches the stock; the sampler stops whatever the storm does. */
async function watchedStorm(
  replicas: Replicas<ServiceInstance>,
  databaseUrl: string,
  sku: string,
  tag: string,
): Promise<{ answers: Answer[]; watched: Awaited<ReturnType<Watch['stop']>> }> {
  const watch = watchStock(databaseUrl, sku, STOCK);
  const answers = await storm(replicas, sku, tag).catch(async (error: unknown) => {
    await watch.stop();
    throw error;
  });
  return { answers, watched: await watch.stop() };
}

/**
 * A storm's outcomes are 201, 409 INSUFFICIENT_STOCK, or an honest 503 LOCK_NOT_ACQUIRED (lock
 * votes timed out on a CPU-starved machine: 1 in 500 seen at load average ~10); nothing else.
 */
const STORM_OUTCOMES = [
  '201',
  '409 INSUFFICIENT_STOCK',
  '503 LOCK_NOT_ACQUIRED',
  // A pool connect or statement timeout of a CPU-starved PostgreSQL: seen once, at load
  // average ~18 with the netns partition suite running beside this file.
  '503 DATABASE_UNAVAILABLE',
];
/** A storm takes 1-3 s here; on a machine shared with other builds it took up to 30 s. */
const STORM_TIMEOUT_MS = 90000;
/** Far more 503s than that would mean the lock, not the machine, is failing. */
const MAX_HONEST_503 = 25;

/** The storm's outcome, checked the same way on every setup. */
async function expectNoOversell(
  replicas: Replicas<ServiceInstance>,
  databaseUrl: string,
  sku: string,
  answers: Answer[],
  watched: Awaited<ReturnType<Watch['stop']>>,
): Promise<void> {
  const outcomes: Record<string, number> = {};
  for (const a of answers) {
    const outcome = a.status === 201 ? '201' : `${a.status} ${String(a.body.code)}`;
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  expect(Object.keys(outcomes).filter((o) => !STORM_OUTCOMES.includes(o))).toEqual([]);
  // Exactly the stock is sold: no oversell, and no undersell either (400 requests to spare).
  expect(outcomes['201']).toBe(STOCK);
  expect(
    (outcomes['503 LOCK_NOT_ACQUIRED'] ?? 0) + (outcomes['503 DATABASE_UNAVAILABLE'] ?? 0),
  ).toBeLessThanOrEqual(MAX_HONEST_503);
  expect((await call(`${replicas.url(1)}/inventory/${sku}`, 'GET')).body).toEqual({
    sku,
    stock: 0,
  });
  const [rows] = await sql<{ count: string }>(
    databaseUrl,
    'SELECT count(*) FROM reservations WHERE sku = $1',
    [sku],
  );
  expect(Number(rows.count)).toBe(STOCK);
  expect(watched.samples).toBeGreaterThan(3);
  expect(watched.minStock).toBeGreaterThanOrEqual(0);
  expect(watched.brokenSums).toEqual([]);
  const remaining = answers
    .filter((a) => a.status === 201)
    .map((a) => Number(a.body.remaining))
    .sort((a, b) => a - b);
  expect(remaining).toEqual(Array.from({ length: STOCK }, (_, i) => i));
}

let postgres: PostgresServer;
/** Redlock masters of the topology suites: always independent standalone servers. */
let lockMasters: RedisServer[] = [];

beforeAll(async () => {
  [postgres, lockMasters] = await Promise.all([startPostgres(), startRedisServers(3)]);
});
afterAll(async () => {
  await postgres?.stop();
  await Promise.all(lockMasters.map((m) => m.stop()));
});

describe.each(topologiesUnderTest())(
  'inventory-lock with its Redis on %s and three independent standalone Redlock masters',
  (kind) => {
    let topology: RedisTopology;
    let databaseUrl: string;
    let replicas: Replicas<ServiceInstance> | undefined;
    let r: Replicas<ServiceInstance>;

    beforeAll(async () => {
      [topology, databaseUrl] = await Promise.all([startTopology(kind), postgres.createDatabase()]);
      const keyPrefix = uniquePrefix('inv');
      replicas = await startReplicas(3, () =>
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
      r = replicas;
    });
    afterAll(async () => {
      await replicas?.close();
      await topology?.stop();
    });

    it('every replica is ready: its Redis and a quorum of lock votes', async () => {
      for (let i = 0; i < 3; i += 1) {
        const ready = await call(`${r.url(i)}/health/ready`, 'GET');
        expect(ready.status).toBe(200);
        expect(ready.body.checks).toMatchObject({ redis: 'ok', 'redlock-quorum': 'ok' });
      }
    });

    it(
      `${STORM} concurrent reservations of 1 on stock ${STOCK}: exactly ${STOCK}, never below 0`,
      async () => {
        expect((await call(`${r.url(0)}/inventory/hot`, 'PUT', { stock: STOCK })).status).toBe(200);
        const { answers, watched } = await watchedStorm(r, databaseUrl, 'hot', 'storm');
        await expectNoOversell(r, databaseUrl, 'hot', answers, watched);
      },
      STORM_TIMEOUT_MS,
    );

    it('10 concurrent repeats of one orderId across replicas make one reservation', async () => {
      await call(`${r.url(0)}/inventory/repeat`, 'PUT', { stock: 50 });
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          call(`${r.url(i)}/inventory/repeat/reservations`, 'POST', {
            orderId: 'order-42',
            quantity: 3,
          }),
        ),
      );
      expect(byStatus(answers)).toEqual({ 201: 1, 200: 9 });
      expect((await call(`${r.url(2)}/inventory/repeat`, 'GET')).body.stock).toBe(47);
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
              redisUrl: lockMasters[0].url,
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
        const masterRefusal = await refusalOf([master.url, lockMasters[1].url, lockMasters[2].url]);
        const replicaRefusal = await refusalOf([lockMasters[0].url, replica.url]);
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
            lockMasters[0].url,
            `redis://${sentinel?.host}:${sentinel?.port}`,
          ]);
          expect(sentinelRefusal).toContain('is a Sentinel (redis_mode:sentinel)');
        }
      });

      it(
        `a failover of the service's Redis during the storm: still exactly ${STOCK}, no 5xx`,
        async () => {
          expect(
            (await call(`${r.url(0)}/inventory/failover`, 'PUT', { stock: STOCK })).status,
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
                (await call(`${url}/health/ready`, 'GET')).status === 200 ? true : undefined,
              15000,
            );
          }
        },
        STORM_TIMEOUT_MS,
      );
    }
  },
);

describe('inventory-lock, REDLOCK_URLS unset on standalone: the service Redis is the one Redlock master', () => {
  let redis: RedisServer;
  let databaseUrl: string;
  const keyPrefix = uniquePrefix('inv');
  let replicas: Replicas<ServiceInstance> | undefined;
  let unlocked: Replicas<ServiceInstance> | undefined;

  beforeAll(async () => {
    [redis, databaseUrl] = await Promise.all([
      startRedis({ faults: true }),
      postgres.createDatabase(),
    ]);
    replicas = await startReplicas(3, () =>
      buildApp(testConfig({ redisUrl: redis.url, databaseUrl, keyPrefix })),
    );
  });
  afterAll(async () => {
    await replicas?.close();
    await unlocked?.close();
    await redis?.stop();
  });

  it(
    `${STORM} concurrent reservations of 1 on stock ${STOCK}: exactly ${STOCK} succeed, never below 0`,
    async () => {
      const r = replicas as Replicas<ServiceInstance>;
      expect((await call(`${r.url(0)}/inventory/hot`, 'PUT', { stock: STOCK })).status).toBe(200);
      const { answers, watched } = await watchedStorm(r, databaseUrl, 'hot', 'locked');
      await expectNoOversell(r, databaseUrl, 'hot', answers, watched);
      const metrics = await (await fetch(`${r.url(0)}/metrics`)).text();
      expect(metrics).toMatch(/reservations_total\{result="created"\} \d+/);
      expect(metrics).toMatch(/lock_acquire_total\{result="acquired"\} \d+/);
      expect(metrics).toMatch(/lock_acquire_seconds_bucket/);
    },
    STORM_TIMEOUT_MS,
  );

  it('the same storm with the lock switched off oversells (lost updates)', async () => {
    unlocked = await startReplicas(3, () =>
      buildApp(
        testConfig({ redisUrl: redis.url, databaseUrl, keyPrefix, strategy: 'unsafe-no-lock' }),
      ),
    );
    const u = unlocked;
    await call(`${u.url(0)}/inventory/unguarded`, 'PUT', { stock: STOCK });
    // The header widens the read-to-write window a little, as a call-out would.
    const answers = await Promise.all(
      Array.from({ length: STORM }, (_, i) =>
        call(
          `${u.url(i)}/inventory/unguarded/reservations`,
          'POST',
          { orderId: `unlocked-${i}`, quantity: 1 },
          { 'x-test-pause-ms': '2' },
        ),
      ),
    );
    const created = answers.filter((a) => a.status === 201).length;
    const [row] = await sql<{ stock: string; reserved: string }>(
      databaseUrl,
      `SELECT stock, (SELECT count(*) FROM reservations WHERE sku = 'unguarded') AS reserved
       FROM inventory WHERE sku = 'unguarded'`,
    );
    // More reservations than stock, and the stock no longer accounts for them.
    expect(created).toBeGreaterThan(STOCK);
    expect(Number(row.reserved)).toBe(created);
    expect(Number(row.stock) + created).toBeGreaterThan(STOCK);
  });

  it('10 concurrent repeats of one orderId across replicas make one reservation', async () => {
    const r = replicas as Replicas<ServiceInstance>;
    await call(`${r.url(0)}/inventory/repeat`, 'PUT', { stock: 50 });
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call(`${r.url(i)}/inventory/repeat/reservations`, 'POST', {
          orderId: 'order-42',
          quantity: 3,
        }),
      ),
    );
    expect(byStatus(answers)).toEqual({ 201: 1, 200: 9 });
    const first = answers.find((a) => a.status === 201)?.body;
    for (const answer of answers) expect(answer.body).toEqual(first);
    expect((await call(`${r.url(2)}/inventory/repeat`, 'GET')).body.stock).toBe(47);
    const rows = await sql(databaseUrl, "SELECT * FROM reservations WHERE order_id = 'order-42'");
    expect(rows).toHaveLength(1);

    const reused = await call(`${r.url(1)}/inventory/repeat/reservations`, 'POST', {
      orderId: 'order-42',
      quantity: 4,
    });
    expect(reused.status).toBe(409);
    expect(reused.body.code).toBe('ORDER_ID_CONFLICT');
  });

  it('DELETE puts the quantity back once, under the lock, and the orderId stays used', async () => {
    const r = replicas as Replicas<ServiceInstance>;
    await call(`${r.url(0)}/inventory/returns`, 'PUT', { stock: 5 });
    const made = await call(`${r.url(1)}/inventory/returns/reservations`, 'POST', {
      orderId: 'ret-1',
      quantity: 2,
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({
      orderId: 'ret-1',
      sku: 'returns',
      quantity: 2,
      remaining: 3,
    });
    expect((await call(`${r.url(2)}/reservations/ret-1`, 'GET')).body.status).toBe('reserved');

    const deletes = await Promise.all(
      [0, 1, 2].map((i) => call(`${r.url(i)}/reservations/ret-1`, 'DELETE')),
    );
    expect(deletes.map((d) => d.status)).toEqual([204, 204, 204]);
    expect((await call(`${r.url(0)}/inventory/returns`, 'GET')).body.stock).toBe(5);
    expect((await call(`${r.url(0)}/reservations/ret-1`, 'GET')).body.status).toBe('released');
    const again = await call(`${r.url(0)}/inventory/returns/reservations`, 'POST', {
      orderId: 'ret-1',
      quantity: 2,
    });
    expect(again.status).toBe(200);
    expect((await call(`${r.url(0)}/inventory/returns`, 'GET')).body.stock).toBe(5);
    expect((await call(`${r.url(0)}/reservations/nope`, 'DELETE')).status).toBe(404);
    expect((await call(`${r.url(0)}/reservations/nope`, 'GET')).body.code).toBe(
      'RESERVATION_NOT_FOUND',
    );
  });

  it('heals a fence counter that fell behind PostgreSQL (masters restarted empty)', async () => {
    const r = replicas as Replicas<ServiceInstance>;
    await call(`${r.url(0)}/inventory/healed`, 'PUT', { stock: 10 });
    await sql(databaseUrl, "UPDATE inventory SET fence = fence + 1000000 WHERE sku = 'healed'");
    const answer = await call(`${r.url(1)}/inventory/healed/reservations`, 'POST', {
      orderId: 'heal-1',
      quantity: 1,
    });
    expect(answer.status).toBe(201);
    expect(Number(answer.body.fence)).toBeGreaterThan(1000000);
    expect((await call(`${r.url(2)}/inventory/healed`, 'PUT', { stock: 20 })).status).toBe(200);
  });

  it('keeps stock within 0..10^9: a restock that a release would push past it is refused', async () => {
    const r = replicas as Replicas<ServiceInstance>;
    const MAX = 1_000_000_000;
    const stockOf = async () =>
      Number(
        (
          await sql<{ stock: string }>(
            databaseUrl,
            "SELECT stock FROM inventory WHERE sku = 'bound'",
          )
        )[0].stock,
      );
    expect((await call(`${r.url(0)}/inventory/bound`, 'PUT', { stock: 10 })).status).toBe(200);
    const reserved = await call(`${r.url(1)}/inventory/bound/reservations`, 'POST', {
      orderId: 'bound-1',
      quantity: 5,
    });
    expect(reserved.status).toBe(201);
    // Issue 20's case: this PUT, then the DELETE, used to leave 1,000,000,005.
    const over = await call(`${r.url(2)}/inventory/bound`, 'PUT', { stock: MAX });
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({ statusCode: 409, code: 'STOCK_LIMIT_EXCEEDED' });
    expect(await stockOf()).toBe(5);
    expect((await call(`${r.url(0)}/inventory/bound`, 'PUT', { stock: MAX - 5 })).status).toBe(200);
    expect((await call(`${r.url(1)}/reservations/bound-1`, 'DELETE')).status).toBe(204);
    expect(await stockOf()).toBe(MAX);
    // The stock at 10^9 with nothing open: the bound is the stock itself.
    expect((await call(`${r.url(2)}/inventory/bound`, 'PUT', { stock: MAX })).status).toBe(200);
    expect((await call(`${r.url(2)}/inventory/bound`, 'PUT', { stock: MAX + 1 })).status).toBe(400);

    // A row written before the bound existed (stock set behind the service's back): the
    // release that would pass 10^9 is refused and changes nothing; the database refuses too.
    expect(
      (
        await call(`${r.url(0)}/inventory/bound/reservations`, 'POST', {
          orderId: 'bound-2',
          quantity: 3,
        })
      ).status,
    ).toBe(201);
    await sql(databaseUrl, `UPDATE inventory SET stock = ${MAX} WHERE sku = 'bound'`);
    const release = await call(`${r.url(1)}/reservations/bound-2`, 'DELETE');
    expect(release.status).toBe(409);
    expect(release.body).toMatchObject({ code: 'STOCK_LIMIT_EXCEEDED' });
    expect(await stockOf()).toBe(MAX);
    expect((await call(`${r.url(2)}/reservations/bound-2`, 'GET')).body.status).toBe('reserved');
    await expect(
      sql(databaseUrl, `UPDATE inventory SET stock = ${MAX + 1} WHERE sku = 'bound'`),
    ).rejects.toThrow(/inventory_stock_max/);
  });

  it('answers 404 for an unknown sku and 409 when the stock is short', async () => {
    const r = replicas as Replicas<ServiceInstance>;
    const unknown = await call(`${r.url(0)}/inventory/ghost/reservations`, 'POST', {
      orderId: 'g-1',
      quantity: 1,
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('SKU_NOT_FOUND');
    expect((await call(`${r.url(0)}/inventory/ghost`, 'GET')).status).toBe(404);
    await call(`${r.url(0)}/inventory/short`, 'PUT', { stock: 2 });
    const short = await call(`${r.url(1)}/inventory/short/reservations`, 'POST', {
      orderId: 's-1',
      quantity: 3,
    });
    expect(short.status).toBe(409);
    expect(short.body).toMatchObject({
      statusCode: 409,
      code: 'INSUFFICIENT_STOCK',
      error: 'Conflict',
    });
  });

  it('rejects bad input with 400 naming the field, and changes nothing', async () => {
    const r = replicas as Replicas<ServiceInstance>;
    await call(`${r.url(0)}/inventory/strict`, 'PUT', { stock: 10 });
    const url = `${r.url(1)}/inventory/strict/reservations`;
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['negative quantity', url, { orderId: 'b-1', quantity: -1 }, /quantity/],
      ['zero quantity', url, { orderId: 'b-2', quantity: 0 }, /quantity/],
      ['fractional quantity', url, { orderId: 'b-3', quantity: 1.5 }, /quantity/],
      ['huge quantity', url, { orderId: 'b-4', quantity: 1e12 }, /quantity/],
      ['missing orderId', url, { quantity: 1 }, /orderId/],
      ['bad orderId', url, { orderId: 'a b', quantity: 1 }, /orderId/],
      [
        'bad sku',
        `${r.url(1)}/inventory/bad%20sku!/reservations`,
        { orderId: 'b-5', quantity: 1 },
        /sku/,
      ],
      [
        'too long sku',
        `${r.url(1)}/inventory/${'x'.repeat(65)}/reservations`,
        { orderId: 'b-6', quantity: 1 },
        /sku/,
      ],
    ];
    for (const [name, target, body, field] of cases) {
      const answer = await call(target, 'POST', body);
      expect({ name, status: answer.status, code: answer.body.code }).toEqual({
        name,
        status: 400,
        code: 'VALIDATION_ERROR',
      });
      expect(String(answer.body.message)).toMatch(field);
    }
    const badStock = await call(`${r.url(0)}/inventory/strict`, 'PUT', { stock: -5 });
    expect(badStock.status).toBe(400);
    expect((await call(`${r.url(0)}/inventory/strict`, 'PUT', { stock: 2.5 })).status).toBe(400);
    expect((await call(`${r.url(0)}/inventory/strict`, 'GET')).body.stock).toBe(10);
    const rows = await sql(databaseUrl, "SELECT * FROM reservations WHERE sku = 'strict'");
    expect(rows).toHaveLength(0);
  });
});
