import { httpCall, type Replicas } from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { holdsLab, type InventoryLab, inventoryLab, sql, stocks } from './inventory-harness';

// Guarantee: stock bounds. Stock plus open reservations and open holds stays <= 10^9 at every
// write (a restock past it is 409, never capped), so a release, cancel or expiry always fits;
// quantity 1..1000 per reservation and hold line, 1..50 lines, a bounded TTL: else a 400 naming
// the field, with nothing written.

describe('reservations within the bounds: 3 replicas, one Redlock master', () => {
  const lab = inventoryLab({ masters: 1 });
  let databaseUrl: string;
  beforeAll(() => ({ databaseUrl } = lab()));

  it('keeps stock within 0..10^9: a restock that a release would push past it is refused', async () => {
    const r = lab().replicas;
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
    expect(
      (await httpCall(r.url(0), 'PUT', '/inventory/bound', { body: { stock: 10 } })).status,
    ).toBe(200);
    const reserved = await httpCall(r.url(1), 'POST', '/inventory/bound/reservations', {
      body: {
        orderId: 'bound-1',
        quantity: 5,
      },
    });
    expect(reserved.status).toBe(201);
    // Issue 20's case: this PUT, then the DELETE, used to leave 1,000,000,005.
    const over = await httpCall(r.url(2), 'PUT', '/inventory/bound', { body: { stock: MAX } });
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({ statusCode: 409, code: 'STOCK_LIMIT_EXCEEDED' });
    expect(await stockOf()).toBe(5);
    expect(
      (await httpCall(r.url(0), 'PUT', '/inventory/bound', { body: { stock: MAX - 5 } })).status,
    ).toBe(200);
    expect((await httpCall(r.url(1), 'DELETE', '/reservations/bound-1')).status).toBe(204);
    expect(await stockOf()).toBe(MAX);
    // The stock at 10^9 with nothing open: the bound is the stock itself.
    expect(
      (await httpCall(r.url(2), 'PUT', '/inventory/bound', { body: { stock: MAX } })).status,
    ).toBe(200);
    expect(
      (await httpCall(r.url(2), 'PUT', '/inventory/bound', { body: { stock: MAX + 1 } })).status,
    ).toBe(400);

    // A row written before the bound existed (stock set behind the service's back): the
    // release that would pass 10^9 is refused and changes nothing; the database refuses too.
    expect(
      (
        await httpCall(r.url(0), 'POST', '/inventory/bound/reservations', {
          body: {
            orderId: 'bound-2',
            quantity: 3,
          },
        })
      ).status,
    ).toBe(201);
    await sql(databaseUrl, `UPDATE inventory SET stock = ${MAX} WHERE sku = 'bound'`);
    const release = await httpCall(r.url(1), 'DELETE', '/reservations/bound-2');
    expect(release.status).toBe(409);
    expect(release.body).toMatchObject({ code: 'STOCK_LIMIT_EXCEEDED' });
    expect(await stockOf()).toBe(MAX);
    expect((await httpCall(r.url(2), 'GET', '/reservations/bound-2')).body.status).toBe('reserved');
    await expect(
      sql(databaseUrl, `UPDATE inventory SET stock = ${MAX + 1} WHERE sku = 'bound'`),
    ).rejects.toThrow(/inventory_stock_max/);
  });

  it('rejects bad input with 400 naming the field, and changes nothing', async () => {
    const r = lab().replicas;
    await httpCall(r.url(0), 'PUT', '/inventory/strict', { body: { stock: 10 } });
    const url = '/inventory/strict/reservations';
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['negative quantity', url, { orderId: 'b-1', quantity: -1 }, /quantity/],
      ['zero quantity', url, { orderId: 'b-2', quantity: 0 }, /quantity/],
      ['fractional quantity', url, { orderId: 'b-3', quantity: 1.5 }, /quantity/],
      ['huge quantity', url, { orderId: 'b-4', quantity: 1e12 }, /quantity/],
      ['missing orderId', url, { quantity: 1 }, /orderId/],
      ['bad orderId', url, { orderId: 'a b', quantity: 1 }, /orderId/],
      ['bad sku', '/inventory/bad%20sku!/reservations', { orderId: 'b-5', quantity: 1 }, /sku/],
      [
        'too long sku',
        `/inventory/${'x'.repeat(65)}/reservations`,
        { orderId: 'b-6', quantity: 1 },
        /sku/,
      ],
    ];
    for (const [name, target, body, field] of cases) {
      const answer = await httpCall(r.url(1), 'POST', target, { body });
      expect({ name, status: answer.status, code: answer.body.code }).toEqual({
        name,
        status: 400,
        code: 'VALIDATION_ERROR',
      });
      expect(String(answer.body.message)).toMatch(field);
    }
    const badStock = await httpCall(r.url(0), 'PUT', '/inventory/strict', { body: { stock: -5 } });
    expect(badStock.status).toBe(400);
    expect(
      (await httpCall(r.url(0), 'PUT', '/inventory/strict', { body: { stock: 2.5 } })).status,
    ).toBe(400);
    expect((await httpCall(r.url(0), 'GET', '/inventory/strict')).body.stock).toBe(10);
    const rows = await sql(databaseUrl, "SELECT * FROM reservations WHERE sku = 'strict'");
    expect(rows).toHaveLength(0);
  });
});

describe('holds within the bounds: 3 replicas, 3 Redlock masters', () => {
  const { lab } = holdsLab();
  let databaseUrl: string;
  let r: Replicas<ServiceInstance>;
  beforeAll(() => ({ databaseUrl, replicas: r } = lab()));
  const hold: InventoryLab['hold'] = (...args) => lab().hold(...args);
  const restock: InventoryLab['restock'] = (...args) => lab().restock(...args);

  it('bounds: lines, quantity, TTL and a repeated sku are a 400 naming the field, nothing held', async () => {
    await restock('bound', 100);
    const cases: Array<[unknown, RegExp]> = [
      [{ lines: [] }, /lines/],
      [{ lines: Array.from({ length: 51 }, (_, i) => ({ sku: `s${i}`, quantity: 1 })) }, /lines/],
      [{ lines: [{ sku: 'bound', quantity: 1001 }] }, /quantity/],
      [{ lines: [{ sku: 'bound', quantity: 0 }] }, /quantity/],
      [{ lines: [{ sku: 'bound', quantity: '1' }] }, /quantity/],
      [{ lines: [{ sku: 'bound', quantity: 1 }], ttlMs: 999 }, /ttlMs/],
      [{ lines: [{ sku: 'bound', quantity: 1 }], ttlMs: 3600001 }, /ttlMs/],
      [{ lines: [{ sku: 'bad sku', quantity: 1 }] }, /sku/],
      [
        {
          lines: [
            { sku: 'bound', quantity: 1 },
            { sku: 'bound', quantity: 2 },
          ],
        },
        /lines\/1\/sku/,
      ],
      [{ lines: [{ sku: 'bound', quantity: 1 }], extra: true }, /extra|additional/],
    ];
    for (const [body, field] of cases) {
      const answer = await httpCall(r.url(0), 'POST', '/orders/bound-1/hold', { body });
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
      expect(answer.body).toMatchObject({ code: 'VALIDATION_ERROR' });
      expect(String(answer.body.message)).toMatch(field);
    }
    expect(await stocks(databaseUrl, ['bound'])).toEqual({ bound: 100 });
    expect((await httpCall(r.url(0), 'GET', '/orders/bound-1')).status).toBe(404);
    const max = await hold(1, 'bound-2', [{ sku: 'bound', quantity: 1000 }], { ttlMs: 3600000 });
    expect(max.status).toBe(409);
  });

  it('a restock that returning the open holds would push past 10^9 is refused', async () => {
    const MAX = 1_000_000_000;
    await restock('cap', 10);
    expect((await hold(0, 'cap-1', [{ sku: 'cap', quantity: 5 }])).status).toBe(201);
    const over = await httpCall(r.url(1), 'PUT', '/inventory/cap', { body: { stock: MAX } });
    expect(over.body).toMatchObject({ statusCode: 409, code: 'STOCK_LIMIT_EXCEEDED' });
    await restock('cap', MAX - 5);
    expect((await httpCall(r.url(2), 'POST', '/orders/cap-1/cancel')).status).toBe(200);
    expect(await stocks(databaseUrl, ['cap'])).toEqual({ cap: MAX });
  });
});
