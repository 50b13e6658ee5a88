import { httpCall, inParallel, uniquePrefix, type HttpAnswer } from '@redis-patterns/testkit';
import {
  byStatus,
  holdsLab,
  type InventoryLab,
  inventoryLab,
  sql,
  stocks,
} from './inventory-harness';

// Guarantee: idempotent per orderId across replicas. A repeat answers the first outcome (200),
// even when the repeats run at once on several replicas; the orderId reused for something else
// is a 409; a release happens once, however often DELETE is repeated.

describe('reservations: one per orderId, 3 replicas, one Redlock master', () => {
  const lab = inventoryLab({ masters: 1 });
  let databaseUrl: string;
  beforeAll(() => ({ databaseUrl } = lab()));

  it('10 concurrent repeats of one orderId across replicas make one reservation', async () => {
    // Fresh per attempt, so a retry does not find the first attempt's reservation.
    const sku = uniquePrefix('repeat');
    const orderId = uniquePrefix('order');
    const r = lab().replicas;
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
    const first = answers.find((a) => a.status === 201)?.body;
    for (const answer of answers) expect(answer.body).toEqual(first);
    expect((await httpCall(r.url(2), 'GET', `/inventory/${sku}`)).body.stock).toBe(47);
    const rows = await sql(databaseUrl, 'SELECT * FROM reservations WHERE order_id = $1', [
      orderId,
    ]);
    expect(rows).toHaveLength(1);

    const reused = await httpCall(r.url(1), 'POST', `/inventory/${sku}/reservations`, {
      body: {
        orderId,
        quantity: 4,
      },
    });
    expect(reused.status).toBe(409);
    expect(reused.body.code).toBe('ORDER_ID_CONFLICT');
  });

  it('DELETE puts the quantity back once, under the lock, and the orderId stays used', async () => {
    const r = lab().replicas;
    await httpCall(r.url(0), 'PUT', '/inventory/returns', { body: { stock: 5 } });
    const made = await httpCall(r.url(1), 'POST', '/inventory/returns/reservations', {
      body: {
        orderId: 'ret-1',
        quantity: 2,
      },
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({
      orderId: 'ret-1',
      sku: 'returns',
      quantity: 2,
      remaining: 3,
    });
    expect((await httpCall(r.url(2), 'GET', '/reservations/ret-1')).body.status).toBe('reserved');

    const deletes = await Promise.all(
      [0, 1, 2].map((i) => httpCall(r.url(i), 'DELETE', '/reservations/ret-1')),
    );
    expect(deletes.map((d) => d.status)).toEqual([204, 204, 204]);
    expect((await httpCall(r.url(0), 'GET', '/inventory/returns')).body.stock).toBe(5);
    expect((await httpCall(r.url(0), 'GET', '/reservations/ret-1')).body.status).toBe('released');
    const again = await httpCall(r.url(0), 'POST', '/inventory/returns/reservations', {
      body: {
        orderId: 'ret-1',
        quantity: 2,
      },
    });
    expect(again.status).toBe(200);
    expect((await httpCall(r.url(0), 'GET', '/inventory/returns')).body.stock).toBe(5);
    expect((await httpCall(r.url(0), 'DELETE', '/reservations/nope')).status).toBe(404);
    expect((await httpCall(r.url(0), 'GET', '/reservations/nope')).body.code).toBe(
      'RESERVATION_NOT_FOUND',
    );
  });
});

describe('holds: one per orderId, 3 replicas, 3 Redlock masters', () => {
  const { lab } = holdsLab();
  let databaseUrl: string;
  beforeAll(() => ({ databaseUrl } = lab()));
  const hold: InventoryLab['hold'] = (...args) => lab().hold(...args);
  const restock: InventoryLab['restock'] = (...args) => lab().restock(...args);

  it('is idempotent per orderId across replicas: one hold, repeats answer it, other lines are 409', async () => {
    await restock('idem', 100);
    // aon-a as holds-all-or-nothing.test.ts leaves it, where this test ran after that one.
    await restock('aon-a', 2);
    const lines = [
      { sku: 'idem', quantity: 4 },
      { sku: 'aon-a', quantity: 1 },
    ];
    const answers = await inParallel(10, 10, (i) =>
      hold(i, 'idem-1', i % 2 ? [...lines].reverse() : lines),
    );
    expect(byStatus(answers)).toEqual({ 200: 9, 201: 1 });
    const first = answers.find((a) => a.status === 201) as HttpAnswer;
    for (const a of answers) expect(a.body).toEqual(first.body);
    expect(await stocks(databaseUrl, ['idem', 'aon-a'])).toEqual({ idem: 96, 'aon-a': 1 });
    const other = await hold(0, 'idem-1', [{ sku: 'idem', quantity: 5 }]);
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ code: 'ORDER_ID_CONFLICT' });
    expect(await stocks(databaseUrl, ['idem'])).toEqual({ idem: 96 });
  });
});
