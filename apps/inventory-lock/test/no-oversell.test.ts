import { httpCall, inParallel, startReplicas, type Replicas } from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import {
  expectNoOversell,
  inventoryLab,
  sql,
  STOCK,
  STORM,
  STORM_TIMEOUT_MS,
  testConfig,
  watchedStorm,
} from './inventory-harness';

// Guarantee: no oversell, no lost update, with any number of replicas (the storms of the
// topology suites in topologies.test.ts hold it on Cluster and Sentinel too); without the lock
// the same storm oversells.

describe('no oversell: 3 replicas, REDLOCK_URLS unset on standalone (one Redlock master)', () => {
  // Declared before the lab: after* hooks run in declaration order, and these replicas must
  // close before the lab stops their Redis and PostgreSQL.
  let unlocked: Replicas<ServiceInstance> | undefined;
  afterAll(async () => {
    await unlocked?.close();
  });
  const lab = inventoryLab({ masters: 1 });
  let databaseUrl: string;
  beforeAll(() => ({ databaseUrl } = lab()));

  it(
    `${STORM} concurrent reservations of 1 on stock ${STOCK}: exactly ${STOCK} succeed, never below 0`,
    async () => {
      const r = lab().replicas;
      expect(
        (await httpCall(r.url(0), 'PUT', '/inventory/hot', { body: { stock: STOCK } })).status,
      ).toBe(200);
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
        testConfig({
          redisUrl: lab().masters[0].url,
          databaseUrl,
          keyPrefix: lab().keyPrefix,
          strategy: 'unsafe-no-lock',
        }),
      ),
    );
    const u = unlocked;
    await httpCall(u.url(0), 'PUT', '/inventory/unguarded', { body: { stock: STOCK } });
    // The header widens the read-to-write window a little, as a call-out would.
    const answers = await inParallel(STORM, STORM, (i) =>
      httpCall(u.url(i), 'POST', '/inventory/unguarded/reservations', {
        body: { orderId: `unlocked-${i}`, quantity: 1 },
        headers: { 'x-test-pause-ms': '2' },
      }),
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

  it('answers 404 for an unknown sku and 409 when the stock is short', async () => {
    const r = lab().replicas;
    const unknown = await httpCall(r.url(0), 'POST', '/inventory/ghost/reservations', {
      body: {
        orderId: 'g-1',
        quantity: 1,
      },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('SKU_NOT_FOUND');
    expect((await httpCall(r.url(0), 'GET', '/inventory/ghost')).status).toBe(404);
    await httpCall(r.url(0), 'PUT', '/inventory/short', { body: { stock: 2 } });
    const short = await httpCall(r.url(1), 'POST', '/inventory/short/reservations', {
      body: {
        orderId: 's-1',
        quantity: 3,
      },
    });
    expect(short.status).toBe(409);
    expect(short.body).toMatchObject({
      statusCode: 409,
      code: 'INSUFFICIENT_STOCK',
      error: 'Conflict',
    });
  });
});
