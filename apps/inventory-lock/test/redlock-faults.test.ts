import { Redis } from 'ioredis';
import {
  startPostgres,
  startRedisServers,
  startReplicas,
  uniquePrefix,
  until,
  type PostgresServer,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { byStatus, call, sql, testConfig } from './support';

const TTL_MS = 1000;

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

async function stockOf(url: string, sku: string): Promise<number> {
  return Number((await call(`${url}/inventory/${sku}`, 'GET')).body.stock);
}

async function readiness(url: string) {
  const answer = await call(`${url}/health/ready`, 'GET');
  const checks = answer.body.checks as Record<string, string>;
  return { status: answer.status, quorum: checks['redlock-quorum'], ms: answer.ms };
}

describe('inventory-lock: three Redlock masters, faults and fencing', () => {
  let masters: RedisServer[] = [];
  let postgres: PostgresServer;
  let databaseUrl: string;
  let replicas: Replicas<ServiceInstance> | undefined;
  let r: Replicas<ServiceInstance>;

  beforeAll(async () => {
    [masters, postgres] = await Promise.all([startRedisServers(3), startPostgres()]);
    databaseUrl = await postgres.createDatabase();
    const keyPrefix = uniquePrefix('inv');
    replicas = await startReplicas(3, () =>
      buildApp(
        testConfig({
          // The skeleton's own Redis is the master that stays up throughout.
          redisUrl: masters[2].url,
          lockUrls: masters.map((m) => m.url),
          databaseUrl,
          keyPrefix,
          lock: { ttlMs: TTL_MS, extendThresholdMs: 500 },
        }),
      ),
    );
    r = replicas;
    await call(`${r.url(0)}/inventory/widget`, 'PUT', { stock: 100 });
  });
  afterAll(async () => {
    await replicas?.close();
    await postgres?.stop();
    await Promise.all(masters.map((m) => m.stop()));
  });

  it('a holder paused past its TTL loses to the next holder, and the fence refuses its write', async () => {
    const before = await stockOf(r.url(0), 'widget');
    const paused = call(
      `${r.url(0)}/inventory/widget/reservations`,
      'POST',
      { orderId: 'slow-1', quantity: 5 },
      { 'x-test-pause-ms': String(TTL_MS * 2 + 500) },
    );
    // Let the first holder claim the row and stall, then race it from another replica.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const next = await call(`${r.url(1)}/inventory/widget/reservations`, 'POST', {
      orderId: 'fast-1',
      quantity: 1,
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
    const retried = await call(`${r.url(0)}/inventory/widget/reservations`, 'POST', {
      orderId: 'slow-1',
      quantity: 5,
    });
    expect(retried.status).toBe(201);
    expect(Number(retried.body.fence)).toBeGreaterThan(Number(row.fence));
  });

  it('a critical section that outlives the TTL keeps its lock by extension and writes', async () => {
    const before = await stockOf(r.url(0), 'widget');
    const workMs = TTL_MS * 2 + 500;
    const slow = call(
      `${r.url(0)}/inventory/widget/reservations`,
      'POST',
      { orderId: 'long-1', quantity: 2 },
      { 'x-test-work-ms': String(workMs) },
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const waiting = await call(`${r.url(1)}/inventory/widget/reservations`, 'POST', {
      orderId: 'long-2',
      quantity: 1,
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

  it('readiness counts probe-lock votes: 1 of 3 masters SIGSTOPped -> ready, 2 of 3 -> 503', async () => {
    // A paused master keeps its socket open (the client still says "ready"): only a vote tells.
    await masters[0].pause();
    try {
      for (let i = 0; i < 3; i += 1) {
        expect(await readiness(r.url(i))).toMatchObject({ status: 200, quorum: 'ok' });
      }
      const made = await call(`${r.url(1)}/inventory/widget/reservations`, 'POST', {
        orderId: 'one-paused',
        quantity: 1,
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
      const refused = await call(`${r.url(2)}/inventory/widget/reservations`, 'POST', {
        orderId: 'noreplicas-1',
        quantity: 1,
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
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        call(`${r.url(i)}/inventory/widget/reservations`, 'POST', {
          orderId: `one-down-${i}`,
          quantity: 1,
        }),
      ),
    );
    expect(byStatus(answers)).toEqual({ 201: 30 });
    expect(await stockOf(r.url(1), 'widget')).toBe(before - 30);
    expect((await call(`${r.url(0)}/health/ready`, 'GET')).status).toBe(200);
  });

  it('two masters killed: 503 LOCK_NOT_ACQUIRED within a second, nothing written', async () => {
    await masters[1].kill();
    const before = await stockOf(r.url(0), 'widget');
    for (let i = 0; i < 3; i += 1) {
      const answer = await call(`${r.url(i)}/inventory/widget/reservations`, 'POST', {
        orderId: `two-down-${i}`,
        quantity: 1,
      });
      expect(answer.status).toBe(503);
      expect(answer.body.code).toBe('LOCK_NOT_ACQUIRED');
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(answer.ms).toBeLessThan(1000);
    }
    const restock = await call(`${r.url(1)}/inventory/widget`, 'PUT', { stock: 1000 });
    expect(restock.status).toBe(503);
    expect(await stockOf(r.url(2), 'widget')).toBe(before);
    expect(
      await sql(databaseUrl, "SELECT 1 FROM reservations WHERE order_id LIKE 'two-down-%'"),
    ).toEqual([]);
    expect((await call(`${r.url(0)}/health/ready`, 'GET')).status).toBe(503);
    expect(await metric(r.url(0), 'lock_acquire_total\\{result="unavailable"\\}')).toBeGreaterThan(
      0,
    );
  });

  it('the killed masters restarted (empty): the service recovers and the fence still holds', async () => {
    await Promise.all([masters[0].start(), masters[1].start()]);
    const deadline = Date.now() + 15000;
    let answer = await call(`${r.url(0)}/inventory/widget/reservations`, 'POST', {
      orderId: 'back-0',
      quantity: 1,
    });
    while (answer.status !== 201 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      answer = await call(`${r.url(0)}/inventory/widget/reservations`, 'POST', {
        orderId: 'back-0',
        quantity: 1,
      });
    }
    expect(answer.status).toBe(201);
    const before = await stockOf(r.url(0), 'widget');
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        call(`${r.url(i)}/inventory/widget/reservations`, 'POST', {
          orderId: `back-${i + 1}`,
          quantity: 1,
        }),
      ),
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
      const answer = await call(`${r.url(2)}/inventory/widget/reservations`, 'POST', {
        orderId: 'paused-1',
        quantity: 1,
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
    const after = await call(`${r.url(2)}/inventory/widget/reservations`, 'POST', {
      orderId: 'paused-1',
      quantity: 1,
    });
    expect(after.status).toBe(201);
  });
});
