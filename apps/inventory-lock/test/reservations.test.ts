import {
  uniquePrefix,
  startPostgres,
  startRedis,
  startReplicas,
  type PostgresServer,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
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

describe('inventory-lock: three replicas on one PostgreSQL and one Redlock master', () => {
  let redis: RedisServer;
  let postgres: PostgresServer;
  let databaseUrl: string;
  const keyPrefix = uniquePrefix('inv');
  let replicas: Replicas<ServiceInstance> | undefined;
  let unlocked: Replicas<ServiceInstance> | undefined;

  beforeAll(async () => {
    [redis, postgres] = await Promise.all([startRedis({ faults: true }), startPostgres()]);
    databaseUrl = await postgres.createDatabase();
    replicas = await startReplicas(3, () =>
      buildApp(testConfig({ redisUrl: redis.url, databaseUrl, keyPrefix })),
    );
  });
  afterAll(async () => {
    await replicas?.close();
    await unlocked?.close();
    await postgres?.stop();
    await redis?.stop();
  });

  it(`${STORM} concurrent reservations of 1 on stock ${STOCK}: exactly ${STOCK} succeed, never below 0`, async () => {
    const r = replicas as Replicas<ServiceInstance>;
    expect((await call(`${r.url(0)}/inventory/hot`, 'PUT', { stock: STOCK })).status).toBe(200);
    const watch = watchStock(databaseUrl, 'hot', STOCK);
    const answers = await storm(r, 'hot', 'locked');
    const watched = await watch.stop();

    expect(byStatus(answers)).toEqual({ 201: STOCK, 409: STORM - STOCK });
    expect(
      answers.filter((a) => a.status === 409).every((a) => a.body.code === 'INSUFFICIENT_STOCK'),
    ).toBe(true);
    expect((await call(`${r.url(1)}/inventory/hot`, 'GET')).body).toEqual({ sku: 'hot', stock: 0 });
    const [rows] = await sql<{ count: string }>(
      databaseUrl,
      "SELECT count(*) FROM reservations WHERE sku = 'hot'",
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
    const metrics = await (await fetch(`${r.url(0)}/metrics`)).text();
    expect(metrics).toMatch(/reservations_total\{result="created"\} \d+/);
    expect(metrics).toMatch(/lock_acquire_total\{result="acquired"\} \d+/);
    expect(metrics).toMatch(/lock_acquire_seconds_bucket/);
  });

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
