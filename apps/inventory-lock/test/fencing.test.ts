import { delay, httpCall, type Replicas } from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { inventoryLab, metricSum, sql, stockOf } from './inventory-harness';

// Guarantee: what Redlock alone does not promise, the fence makes safe. A holder paused past its
// lease loses the lock and PostgreSQL refuses its write (FENCING_TOKEN_STALE); a holder that is
// working, not paused, keeps its lease by extension.

const TTL_MS = 1000;

describe('fencing: 3 replicas, 3 Redlock masters, a 1 s lock TTL', () => {
  const lab = inventoryLab({
    // The skeleton's own Redis is the master that stays up throughout.
    serviceRedis: 2,
    config: { lock: { ttlMs: TTL_MS, extendThresholdMs: 500 } },
  });
  let databaseUrl: string;
  let r: Replicas<ServiceInstance>;
  beforeAll(async () => {
    ({ databaseUrl } = lab());
    r = lab().replicas;
    await httpCall(r.url(0), 'PUT', '/inventory/widget', { body: { stock: 100 } });
  });
  const metric = (url: string, name: string) => metricSum([url], name);

  it('a holder paused past its TTL loses to the next holder, and the fence refuses its write', async () => {
    const before = await stockOf(r.url(0), 'widget');
    const paused = httpCall(r.url(0), 'POST', '/inventory/widget/reservations', {
      body: { orderId: 'slow-1', quantity: 5 },
      headers: { 'x-test-pause-ms': String(TTL_MS * 2 + 500) },
    });
    // Let the first holder claim the row and stall, then race it from another replica.
    await delay(300);
    const next = await httpCall(r.url(1), 'POST', '/inventory/widget/reservations', {
      body: {
        orderId: 'fast-1',
        quantity: 1,
      },
    });
    expect(next.status).toBe(201);
    expect(next.body.remaining).toBe(before - 1);

    const stale = await paused;
    expect(stale.status).toBe(503);
    expect(stale.body.code).toBe('FENCING_TOKEN_STALE');
    expect(stale.headers.get('retry-after')).toBe('1');
    expect(await stockOf(r.url(2), 'widget')).toBe(before - 1);
    expect(await sql(databaseUrl, "SELECT 1 FROM reservations WHERE order_id = 'slow-1'")).toEqual(
      [],
    );
    expect(await metric(r.url(0), 'fencing_rejections_total')).toBe(1);
    const [row] = await sql<{ fence: string }>(
      databaseUrl,
      "SELECT fence FROM reservations WHERE order_id = 'fast-1'",
    );
    expect(Number(row.fence)).toBeGreaterThan(0);

    // A retry of the refused order is a fresh attempt and goes through.
    const retried = await httpCall(r.url(0), 'POST', '/inventory/widget/reservations', {
      body: {
        orderId: 'slow-1',
        quantity: 5,
      },
    });
    expect(retried.status).toBe(201);
    expect(Number(retried.body.fence)).toBeGreaterThan(Number(row.fence));
  });

  it('a critical section that outlives the TTL keeps its lock by extension and writes', async () => {
    const before = await stockOf(r.url(0), 'widget');
    const workMs = TTL_MS * 2 + 500;
    const slow = httpCall(r.url(0), 'POST', '/inventory/widget/reservations', {
      body: { orderId: 'long-1', quantity: 2 },
      headers: { 'x-test-work-ms': String(workMs) },
    });
    await delay(300);
    const waiting = await httpCall(r.url(1), 'POST', '/inventory/widget/reservations', {
      body: {
        orderId: 'long-2',
        quantity: 1,
      },
    });
    const slowAnswer = await slow;
    expect(slowAnswer.status).toBe(201);
    expect(waiting.status).toBe(201);
    // The second holder waited for the first one's lease (kept alive past the TTL) and read
    // the stock after the first one's write.
    expect(waiting.ms).toBeGreaterThan(workMs - 300 - 100);
    expect(waiting.body.remaining).toBe(before - 3);
    expect(Number(waiting.body.fence)).toBeGreaterThan(Number(slowAnswer.body.fence));
    expect(await metric(r.url(0), 'fencing_rejections_total')).toBe(1);
  });
});
