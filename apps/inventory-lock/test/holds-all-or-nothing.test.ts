import {
  httpCall,
  inParallel,
  uniquePrefix,
  startReplicas,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { checkHistory } from './history-checker';
import { holdsLab, type InventoryLab, sql, stocks, testConfig } from './inventory-harness';

// Guarantee: holds are all or nothing. One transaction takes every line or none; a refused hold
// (404/409) left nothing and names its line. Under atomic-sql the same holds without any lock.

describe('holds, all or nothing: 3 replicas, 3 Redlock masters', () => {
  const { clock, lab } = holdsLab();
  let databaseUrl: string;
  let r: Replicas<ServiceInstance>;
  beforeAll(() => ({ databaseUrl, replicas: r } = lab()));
  const hold: InventoryLab['hold'] = (...args) => lab().hold(...args);
  const restock: InventoryLab['restock'] = (...args) => lab().restock(...args);
  let postgres: ReturnType<typeof lab>['postgres'];
  let masters: ReturnType<typeof lab>['masters'];
  beforeAll(() => {
    ({ postgres, masters } = lab());
  });

  it('holds every line or none, and names the short line', async () => {
    await restock('aon-a', 5);
    await restock('aon-b', 2);
    const short = await hold(0, 'aon-1', [
      { sku: 'aon-a', quantity: 3 },
      { sku: 'aon-b', quantity: 3 },
    ]);
    expect(short.status).toBe(409);
    expect(short.body).toMatchObject({ code: 'INSUFFICIENT_STOCK' });
    expect(String(short.body.message)).toMatch(
      /^Line 1 \(aon-b\) is short: only 2 left, 3 requested/,
    );
    expect(await stocks(databaseUrl, ['aon-a', 'aon-b'])).toEqual({ 'aon-a': 5, 'aon-b': 2 });
    expect((await httpCall(r.url(1), 'GET', '/orders/aon-1')).status).toBe(404);
    const unknown = await hold(1, 'aon-2', [
      { sku: 'aon-a', quantity: 1 },
      { sku: 'aon-ghost', quantity: 1 },
    ]);
    expect(unknown.status).toBe(404);
    expect(String(unknown.body.message)).toMatch(/Line 1 \(aon-ghost\)/);

    const held = await hold(2, 'aon-1', [
      { sku: 'aon-b', quantity: 2 },
      { sku: 'aon-a', quantity: 3 },
    ]);
    expect(held.status).toBe(201);
    expect(held.body).toMatchObject({
      orderId: 'aon-1',
      status: 'held',
      lines: [
        { sku: 'aon-b', quantity: 2 },
        { sku: 'aon-a', quantity: 3 },
      ],
      settledAt: null,
    });
    // The default TTL: ten minutes from creation.
    expect(Date.parse(String(held.body.expiresAt)) - Date.parse(String(held.body.createdAt))).toBe(
      600000,
    );
    expect(await stocks(databaseUrl, ['aon-a', 'aon-b'])).toEqual({ 'aon-a': 2, 'aon-b': 0 });
  });

  it('with atomic-sql (no lock) holds are one transaction: all or nothing, the short line named, stock exact', async () => {
    const atomicUrl = await postgres.createDatabase();
    const atomic = await startReplicas(2, () =>
      buildApp(
        testConfig({
          redisUrl: masters[0].url,
          databaseUrl: atomicUrl,
          keyPrefix: uniquePrefix('inv'),
          strategy: 'atomic-sql',
          clock: clock.now,
        }),
      ),
    );
    try {
      for (const [sku, stock] of [
        ['at-x', 40],
        ['at-y', 25],
      ] as const) {
        expect(
          (await httpCall(atomic.url(0), 'PUT', `/inventory/${sku}`, { body: { stock } })).status,
        ).toBe(200);
      }
      const answers = await inParallel(60, 60, (i) =>
        httpCall(atomic.url(i), 'POST', `/orders/at-${i}/hold`, {
          body: {
            lines:
              i % 2
                ? [
                    { sku: 'at-y', quantity: 1 },
                    { sku: 'at-x', quantity: 1 },
                  ]
                : [{ sku: 'at-x', quantity: 1 }],
          },
        }),
      );
      const created = answers.filter((a) => a.status === 201);
      const refused = answers.filter((a) => a.status === 409);
      expect(created.length + refused.length).toBe(60);
      for (const a of refused) {
        expect(a.body.code).toBe('INSUFFICIENT_STOCK');
        expect(String(a.body.message)).toMatch(/^Line \d \(at-[xy]\) is short/);
      }
      const [row] = await sql<{ x: string; y: string }>(
        atomicUrl,
        `SELECT (SELECT stock FROM inventory WHERE sku = 'at-x') +
           (SELECT count(*) FROM hold_lines WHERE sku = 'at-x') AS x,
         (SELECT stock FROM inventory WHERE sku = 'at-y') +
           (SELECT count(*) FROM hold_lines WHERE sku = 'at-y') AS y`,
      );
      expect([Number(row.x), Number(row.y)]).toEqual([40, 25]);
      expect((await checkHistory(atomicUrl, [])).violations).toEqual([]);
    } finally {
      await atomic.close();
    }
  });
});
