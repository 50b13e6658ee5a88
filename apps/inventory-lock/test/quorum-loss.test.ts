import { Redis } from 'ioredis';
import {
  eventually,
  httpCall,
  inParallel,
  until,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { byStatus, inventoryLab, metricSum, sql, stockOf } from './inventory-harness';

// Guarantee: liveness needs a quorum of Redlock masters. Readiness counts real probe-lock votes;
// with a quorum left every write goes through, without one every write is 503 LOCK_NOT_ACQUIRED
// within about a second and nothing is written; the service recovers when the masters return.

const TTL_MS = 1000;

async function readiness(url: string) {
  const answer = await httpCall(url, 'GET', '/health/ready');
  const checks = answer.body.checks as Record<string, string>;
  return { status: answer.status, quorum: checks['redlock-quorum'], ms: answer.ms };
}

describe('quorum loss: 3 replicas, 3 Redlock masters, a 1 s lock TTL', () => {
  const lab = inventoryLab({
    // The skeleton's own Redis is the master that stays up throughout.
    serviceRedis: 2,
    config: { lock: { ttlMs: TTL_MS, extendThresholdMs: 500 } },
  });
  let masters: RedisServer[];
  let databaseUrl: string;
  let r: Replicas<ServiceInstance>;
  beforeAll(async () => {
    ({ masters, databaseUrl } = lab());
    r = lab().replicas;
    await httpCall(r.url(0), 'PUT', '/inventory/widget', { body: { stock: 100 } });
  });
  const metric = (url: string, name: string) => metricSum([url], name);

  it('readiness counts probe-lock votes: 1 of 3 masters SIGSTOPped -> ready, 2 of 3 -> 503', async () => {
    // A paused master keeps its socket open (the client still says "ready"): only a vote tells.
    await masters[0].pause();
    try {
      for (let i = 0; i < 3; i += 1) {
        expect(await readiness(r.url(i))).toMatchObject({ status: 200, quorum: 'ok' });
      }
      const made = await httpCall(r.url(1), 'POST', '/inventory/widget/reservations', {
        body: {
          orderId: 'one-paused',
          quantity: 1,
        },
      });
      expect(made.status).toBe(201);
      await masters[1].pause();
      for (let i = 0; i < 3; i += 1) {
        const state = await readiness(r.url(i));
        expect(state).toMatchObject({ status: 503, quorum: 'down' });
        // Decided by the votes (command timeout 200 ms), not by the 800 ms readiness deadline.
        expect(state.ms).toBeLessThan(700);
      }
    } finally {
      await Promise.all([masters[0].resume(), masters[1].resume()]);
    }
    for (let i = 0; i < 3; i += 1) {
      const url = r.url(i);
      await until(
        `replica ${i} ready again`,
        async () => ((await readiness(url)).status === 200 ? true : undefined),
        5000,
      );
    }
  });

  it('masters that answer PING but refuse writes (NOREPLICAS) vote against: 503, not ready', async () => {
    const admins = [masters[0], masters[1]].map((m) => new Redis(m.url));
    try {
      await Promise.all(admins.map((a) => a.config('SET', 'min-replicas-to-write', '1')));
      expect(await Promise.all(admins.map((a) => a.ping()))).toEqual(['PONG', 'PONG']);
      expect(await readiness(r.url(0))).toMatchObject({ status: 503, quorum: 'down' });
      const refused = await httpCall(r.url(2), 'POST', '/inventory/widget/reservations', {
        body: {
          orderId: 'noreplicas-1',
          quantity: 1,
        },
      });
      expect(refused.status).toBe(503);
      expect(refused.body.code).toBe('LOCK_NOT_ACQUIRED');
      expect(refused.ms).toBeLessThan(1000);
    } finally {
      await Promise.all(admins.map((a) => a.config('SET', 'min-replicas-to-write', '0')));
      admins.forEach((a) => a.disconnect());
    }
    expect(await readiness(r.url(0))).toMatchObject({ status: 200, quorum: 'ok' });
    expect(
      await sql(databaseUrl, "SELECT 1 FROM reservations WHERE order_id = 'noreplicas-1'"),
    ).toEqual([]);
  });

  it('one master killed: reservations still succeed on every replica', async () => {
    await masters[0].kill();
    const before = await stockOf(r.url(0), 'widget');
    const answers = await inParallel(30, 30, (i) =>
      httpCall(r.url(i), 'POST', '/inventory/widget/reservations', {
        body: {
          orderId: `one-down-${i}`,
          quantity: 1,
        },
      }),
    );
    expect(byStatus(answers)).toEqual({ 201: 30 });
    expect(await stockOf(r.url(1), 'widget')).toBe(before - 30);
    expect((await httpCall(r.url(0), 'GET', '/health/ready')).status).toBe(200);
  });

  it('two masters killed: 503 LOCK_NOT_ACQUIRED within a second, nothing written', async () => {
    await masters[1].kill();
    const before = await stockOf(r.url(0), 'widget');
    for (let i = 0; i < 3; i += 1) {
      const answer = await httpCall(r.url(i), 'POST', '/inventory/widget/reservations', {
        body: {
          orderId: `two-down-${i}`,
          quantity: 1,
        },
      });
      expect(answer.status).toBe(503);
      expect(answer.body.code).toBe('LOCK_NOT_ACQUIRED');
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(answer.ms).toBeLessThan(1000);
    }
    const restock = await httpCall(r.url(1), 'PUT', '/inventory/widget', { body: { stock: 1000 } });
    expect(restock.status).toBe(503);
    expect(await stockOf(r.url(2), 'widget')).toBe(before);
    expect(
      await sql(databaseUrl, "SELECT 1 FROM reservations WHERE order_id LIKE 'two-down-%'"),
    ).toEqual([]);
    expect((await httpCall(r.url(0), 'GET', '/health/ready')).status).toBe(503);
    expect(await metric(r.url(0), 'lock_acquire_total\\{result="unavailable"\\}')).toBeGreaterThan(
      0,
    );
  });

  it('the killed masters restarted (empty): the service recovers and the fence still holds', async () => {
    await Promise.all([masters[0].start(), masters[1].start()]);
    // The first reservation after the restart, retried until the masters answer again.
    await eventually(
      'a reservation once the restarted masters answer',
      async () => {
        const answer = await httpCall(r.url(0), 'POST', '/inventory/widget/reservations', {
          body: { orderId: 'back-0', quantity: 1 },
        });
        expect(answer.status).toBe(201);
      },
      { timeoutMs: 15000, intervalMs: 200 },
    );
    const before = await stockOf(r.url(0), 'widget');
    const answers = await inParallel(30, 30, (i) =>
      httpCall(r.url(i), 'POST', '/inventory/widget/reservations', {
        body: {
          orderId: `back-${i + 1}`,
          quantity: 1,
        },
      }),
    );
    expect(byStatus(answers)).toEqual({ 201: 30 });
    expect(await stockOf(r.url(1), 'widget')).toBe(before - 30);
    const [totals] = await sql<{ reserved: string; stock: string }>(
      databaseUrl,
      `SELECT (SELECT COALESCE(SUM(quantity), 0) FROM reservations WHERE sku = 'widget') AS reserved,
              (SELECT stock FROM inventory WHERE sku = 'widget') AS stock`,
    );
    expect(Number(totals.reserved) + Number(totals.stock)).toBe(100);
  });

  it('two masters paused (SIGSTOP): 503 within command timeout + 1 s, then recovery', async () => {
    await Promise.all([masters[0].pause(), masters[1].pause()]);
    try {
      const answer = await httpCall(r.url(2), 'POST', '/inventory/widget/reservations', {
        body: {
          orderId: 'paused-1',
          quantity: 1,
        },
      });
      expect(answer.status).toBe(503);
      expect(answer.body.code).toBe('LOCK_NOT_ACQUIRED');
      expect(answer.ms).toBeLessThan(1500);
    } finally {
      await Promise.all([masters[0].resume(), masters[1].resume()]);
    }
    expect(
      await sql(databaseUrl, "SELECT 1 FROM reservations WHERE order_id = 'paused-1'"),
    ).toEqual([]);
    const after = await httpCall(r.url(2), 'POST', '/inventory/widget/reservations', {
      body: {
        orderId: 'paused-1',
        quantity: 1,
      },
    });
    expect(after.status).toBe(201);
  });
});
