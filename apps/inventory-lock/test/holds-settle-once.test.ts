import { delay, httpCall, inParallel, until, type Replicas } from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { byStatus, holdsLab, type InventoryLab, metricSum, sql, stocks } from './inventory-harness';

// Guarantee: a hold leaves `held` exactly once (confirm, cancel or expiry), by a conditional
// update in PostgreSQL: with 3 replicas racing or sweeping at once, with every replica stopped
// across the expiry, and for a confirm that arrives after the expiry before any sweep.

/** Long on the real clock (creating the holds takes real time), short on the injected one. */
const TTL_MS = 60_000;

describe('holds settle once: 3 replicas, 3 Redlock masters, an injected clock', () => {
  const { clock, lab } = holdsLab();
  let databaseUrl: string;
  let r: Replicas<ServiceInstance>;
  beforeAll(() => ({ databaseUrl, replicas: r } = lab()));
  const hold: InventoryLab['hold'] = (...args) => lab().hold(...args);
  const restock: InventoryLab['restock'] = (...args) => lab().restock(...args);
  const start = async () => {
    r = await lab().restart();
  };

  it('confirm makes a hold final, cancel returns its stock once, and each refuses the other', async () => {
    await restock('settle', 10);
    expect((await hold(0, 'settle-1', [{ sku: 'settle', quantity: 3 }])).status).toBe(201);
    expect((await hold(1, 'settle-2', [{ sku: 'settle', quantity: 4 }])).status).toBe(201);
    const confirms = await Promise.all(
      [0, 1, 2].map((i) => httpCall(r.url(i), 'POST', '/orders/settle-1/confirm')),
    );
    expect(confirms.map((a) => [a.status, a.body.status])).toEqual([
      [200, 'confirmed'],
      [200, 'confirmed'],
      [200, 'confirmed'],
    ]);
    const late = await httpCall(r.url(0), 'POST', '/orders/settle-1/cancel');
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ code: 'HOLD_CONFIRMED' });
    const cancels = await Promise.all(
      [0, 1, 2].map((i) => httpCall(r.url(i), 'POST', '/orders/settle-2/cancel')),
    );
    expect(cancels.map((a) => [a.status, a.body.status])).toEqual([
      [200, 'cancelled'],
      [200, 'cancelled'],
      [200, 'cancelled'],
    ]);
    // 10 - 3 confirmed; the 4 cancelled came back once.
    expect(await stocks(databaseUrl, ['settle'])).toEqual({ settle: 7 });
    const refused = await httpCall(r.url(1), 'POST', '/orders/settle-2/confirm');
    expect(refused.body).toMatchObject({ statusCode: 409, code: 'HOLD_CANCELLED' });
    expect((await httpCall(r.url(2), 'POST', '/orders/nope/confirm')).body).toMatchObject({
      statusCode: 404,
      code: 'HOLD_NOT_FOUND',
    });
    expect((await httpCall(r.url(2), 'POST', '/orders/nope/cancel')).status).toBe(404);
  });

  it('expiry returns the stock exactly once, whichever of the 3 replicas notices first', async () => {
    await restock('exp', 100);
    const before = await metricSum(r.urls, 'holds_settled_total', 'status="expired"');
    const created = await inParallel(30, 30, (i) =>
      hold(i, `exp-${i}`, [{ sku: 'exp', quantity: 2 }], { ttlMs: TTL_MS }),
    );
    expect(byStatus(created)).toEqual({ 201: 30 });
    expect(await stocks(databaseUrl, ['exp'])).toEqual({ exp: 40 });
    // Not yet due on the injected clock: every sweeper leaves them alone.
    await delay(300);
    expect(await stocks(databaseUrl, ['exp'])).toEqual({ exp: 40 });
    clock.advance(TTL_MS);
    await until('the sweepers expired all 30', async () =>
      (await stocks(databaseUrl, ['exp'])).exp === 100 ? true : undefined,
    );
    // Let every replica sweep a few more times: nothing comes back twice.
    await delay(300);
    expect(await stocks(databaseUrl, ['exp'])).toEqual({ exp: 100 });
    expect((await metricSum(r.urls, 'holds_settled_total', 'status="expired"')) - before).toBe(30);
    const [events] = await sql<{ count: string }>(
      databaseUrl,
      "SELECT count(*) FROM inventory_events WHERE kind = 'expire' AND sku = 'exp'",
    );
    expect(Number(events.count)).toBe(30);
    const confirm = await httpCall(r.url(1), 'POST', '/orders/exp-0/confirm');
    expect(confirm.body).toMatchObject({ statusCode: 409, code: 'HOLD_EXPIRED' });
    const cancel = await httpCall(r.url(2), 'POST', '/orders/exp-1/cancel');
    expect([cancel.status, cancel.body.status]).toEqual([200, 'expired']);
    const repeat = await hold(0, 'exp-2', [{ sku: 'exp', quantity: 2 }], { ttlMs: TTL_MS });
    expect([repeat.status, repeat.body.status]).toEqual([200, 'expired']);
    expect(await stocks(databaseUrl, ['exp'])).toEqual({ exp: 100 });
  });

  it('a hold that expired while every replica was down returns its stock once, when one starts', async () => {
    await restock('down', 10);
    expect(
      (await hold(0, 'down-1', [{ sku: 'down', quantity: 6 }], { ttlMs: TTL_MS })).status,
    ).toBe(201);
    await r.close();
    clock.advance(TTL_MS * 5);
    expect(await stocks(databaseUrl, ['down'])).toEqual({ down: 4 });
    await start();
    await until('a restarted replica expired the hold', async () =>
      (await stocks(databaseUrl, ['down'])).down === 10 ? true : undefined,
    );
    await delay(300);
    expect(await stocks(databaseUrl, ['down'])).toEqual({ down: 10 });
    expect((await httpCall(r.url(1), 'GET', '/orders/down-1')).body.status).toBe('expired');
  });

  it('a confirm that arrives after the expiry is refused even before any sweep', async () => {
    await restock('lazy', 5);
    await Promise.all(r.apps.map((app) => app.holdSweeper.stop()));
    try {
      expect(
        (await hold(0, 'lazy-1', [{ sku: 'lazy', quantity: 5 }], { ttlMs: TTL_MS })).status,
      ).toBe(201);
      clock.advance(TTL_MS);
      const confirm = await httpCall(r.url(1), 'POST', '/orders/lazy-1/confirm');
      expect(confirm.body).toMatchObject({ statusCode: 409, code: 'HOLD_EXPIRED' });
      expect(await stocks(databaseUrl, ['lazy'])).toEqual({ lazy: 5 });
    } finally {
      for (const app of r.apps) app.holdSweeper.start();
    }
  });
});
