import { Redis } from 'ioredis';
import { delay, httpCall, type RedisServer, type Replicas } from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { checkHistory, type Ack } from './history-checker';
import {
  byStatus,
  holdsLab,
  type InventoryLab,
  inventoryLab,
  metricSum,
  sql,
} from './inventory-harness';

// Guarantee: fences never go backwards. PostgreSQL holds each sku's high-water mark and every
// token is issued above it: a counter behind it heals itself, and wiping every master (idle or
// under load) never makes a token repeat or go backwards.

describe('a fence counter behind PostgreSQL: 3 replicas, one Redlock master', () => {
  const lab = inventoryLab({ masters: 1 });
  let databaseUrl: string;
  beforeAll(() => ({ databaseUrl } = lab()));

  it('heals a fence counter that fell behind PostgreSQL (masters restarted empty)', async () => {
    const r = lab().replicas;
    await httpCall(r.url(0), 'PUT', '/inventory/healed', { body: { stock: 10 } });
    await sql(databaseUrl, "UPDATE inventory SET fence = fence + 1000000 WHERE sku = 'healed'");
    const answer = await httpCall(r.url(1), 'POST', '/inventory/healed/reservations', {
      body: {
        orderId: 'heal-1',
        quantity: 1,
      },
    });
    expect(answer.status).toBe(201);
    expect(Number(answer.body.fence)).toBeGreaterThan(1000000);
    expect(
      (await httpCall(r.url(2), 'PUT', '/inventory/healed', { body: { stock: 20 } })).status,
    ).toBe(200);
  });
});

describe('every master wiped: 3 replicas, 3 Redlock masters', () => {
  const { lab } = holdsLab();
  let databaseUrl: string;
  let r: Replicas<ServiceInstance>;
  beforeAll(() => ({ databaseUrl, replicas: r } = lab()));
  const hold: InventoryLab['hold'] = (...args) => lab().hold(...args);
  const restock: InventoryLab['restock'] = (...args) => lab().restock(...args);
  let masters: RedisServer[];
  beforeAll(() => {
    masters = lab().masters;
  });

  it('fences never go backwards: after every master is wiped, the next token is above all PostgreSQL has seen', async () => {
    const skus = ['wipe-0', 'wipe-1', 'wipe-2'];
    for (const sku of skus) await restock(sku, 10_000);
    const admins = masters.map((m) => new Redis(m.url, { lazyConnect: true }));
    const acks: Ack[] = [];
    try {
      // Idle first: a wiped quorum, then one hold; its tokens come out above the database's
      // fences at once (no refusal and self-heal needed).
      const fencesBefore = await sql<{ sku: string; fence: string }>(
        databaseUrl,
        'SELECT sku, fence FROM inventory WHERE sku = ANY($1::text[])',
        [skus],
      );
      const rejectedBefore = await metricSum(r.urls, 'fencing_rejections_total', '');
      await Promise.all(admins.map((a) => a.flushall()));
      const lines = skus.map((sku) => ({ sku, quantity: 1 }));
      const first = await hold(1, 'wipe-first', lines);
      expect(first.status).toBe(201);
      acks.push({ op: 'hold', orderId: 'wipe-first', lines });
      for (const line of first.body.lines as Array<{ sku: string; fence: number }>) {
        const before = Number(fencesBefore.find((f) => f.sku === line.sku)?.fence);
        expect(line.fence).toBeGreaterThan(before);
      }
      expect(await metricSum(r.urls, 'fencing_rejections_total', '')).toBe(rejectedBefore);

      // Under load: 3 replicas hold, confirm and cancel while every master is wiped twice.
      let wipes = 0;
      const load = Array.from({ length: 180 }, async (_, i) => {
        await delay((i % 60) * 10);
        const orderLines = [skus[i % 3], skus[(i + 1) % 3]].map((sku) => ({ sku, quantity: 1 }));
        const answer = await hold(i, `wipe-${i}`, orderLines);
        if (answer.status !== 201) return answer;
        acks.push({ op: 'hold', orderId: `wipe-${i}`, lines: orderLines });
        const settle = await httpCall(
          r.url(i + 1),
          'POST',
          `/orders/wipe-${i}/${i % 2 ? 'confirm' : 'cancel'}`,
        );
        if (settle.status === 200) {
          acks.push({
            op: i % 2 ? 'confirm' : 'cancel',
            orderId: `wipe-${i}`,
            status: String(settle.body.status),
          });
        }
        return answer;
      });
      const wiper = (async () => {
        for (const pauseMs of [150, 300]) {
          await delay(pauseMs);
          await Promise.all(admins.map((a) => a.flushall()));
          wipes += 1;
        }
      })();
      const answers = await Promise.all(load);
      await wiper;
      expect(wipes).toBe(2);
      const outcomes = byStatus(answers);
      // Refusals are honest: a holder whose lock a wipe handed to another is fenced out (503).
      expect(Object.keys(outcomes).filter((s) => !['201', '503'].includes(s))).toEqual([]);
      expect(outcomes[201]).toBeGreaterThan(100);
      const verdict = await checkHistory(databaseUrl, acks);
      console.log(
        `wipe history: ${verdict.events} events, ${verdict.acks} acknowledged ops, verdict ${verdict.violations.length ? 'FAIL' : 'OK'}`,
      );
      expect(verdict.violations).toEqual([]);
    } finally {
      for (const admin of admins) admin.disconnect();
    }
  }, 120_000);
});
