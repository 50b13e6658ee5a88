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
import { checkHistory, type Ack } from './history-checker';
import { byStatus, call, sql, TestClock, testConfig, type Answer } from './support';

/** Long on the real clock (creating the holds takes real time), short on the injected one. */
const TTL_MS = 60_000;

interface Line {
  sku: string;
  quantity: number;
}

async function metricSum(urls: string[], name: string, label: string): Promise<number> {
  let sum = 0;
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const series = label ? `${name}\\{${label}\\}` : name;
    const match = new RegExp(`^${series} (\\d+)`, 'm').exec(text);
    sum += match ? Number(match[1]) : 0;
  }
  return sum;
}

async function stocks(databaseUrl: string, skus: string[]): Promise<Record<string, number>> {
  const rows = await sql<{ sku: string; stock: string }>(
    databaseUrl,
    'SELECT sku, stock FROM inventory WHERE sku = ANY($1::text[])',
    [skus],
  );
  return Object.fromEntries(rows.map((row) => [row.sku, Number(row.stock)]));
}

describe('inventory-lock holds: 3 replicas, 3 Redlock masters, PostgreSQL', () => {
  let masters: RedisServer[] = [];
  let postgres: PostgresServer;
  let databaseUrl: string;
  let keyPrefix: string;
  let replicas: Replicas<ServiceInstance> | undefined;
  let r: Replicas<ServiceInstance>;
  const clock = new TestClock();

  const start = async () => {
    replicas = await startReplicas(3, () =>
      buildApp(
        testConfig({
          redisUrl: masters[0].url,
          lockUrls: masters.map((m) => m.url),
          databaseUrl,
          keyPrefix,
          clock: clock.now,
          holds: { sweepIntervalMs: 50 },
        }),
      ),
    );
    r = replicas;
  };
  const hold = (i: number, orderId: string, lines: Line[], extra: object = {}) =>
    call(`${r.url(i)}/orders/${orderId}/hold`, 'POST', { lines, ...extra });
  const restock = async (sku: string, stock: number) =>
    expect((await call(`${r.url(0)}/inventory/${sku}`, 'PUT', { stock })).status).toBe(200);

  beforeAll(async () => {
    [masters, postgres] = await Promise.all([startRedisServers(3), startPostgres()]);
    databaseUrl = await postgres.createDatabase();
    keyPrefix = uniquePrefix('inv');
    await start();
  });
  afterAll(async () => {
    await replicas?.close();
    await postgres?.stop();
    await Promise.all(masters.map((m) => m.stop()));
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
    expect((await call(`${r.url(1)}/orders/aon-1`, 'GET')).status).toBe(404);
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

  it('is idempotent per orderId across replicas: one hold, repeats answer it, other lines are 409', async () => {
    await restock('idem', 100);
    const lines = [
      { sku: 'idem', quantity: 4 },
      { sku: 'aon-a', quantity: 1 },
    ];
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => hold(i, 'idem-1', i % 2 ? [...lines].reverse() : lines)),
    );
    expect(byStatus(answers)).toEqual({ 200: 9, 201: 1 });
    const first = answers.find((a) => a.status === 201) as Answer;
    for (const a of answers) expect(a.body).toEqual(first.body);
    expect(await stocks(databaseUrl, ['idem', 'aon-a'])).toEqual({ idem: 96, 'aon-a': 1 });
    const other = await hold(0, 'idem-1', [{ sku: 'idem', quantity: 5 }]);
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ code: 'ORDER_ID_CONFLICT' });
    expect(await stocks(databaseUrl, ['idem'])).toEqual({ idem: 96 });
  });

  it('confirm makes a hold final, cancel returns its stock once, and each refuses the other', async () => {
    await restock('settle', 10);
    expect((await hold(0, 'settle-1', [{ sku: 'settle', quantity: 3 }])).status).toBe(201);
    expect((await hold(1, 'settle-2', [{ sku: 'settle', quantity: 4 }])).status).toBe(201);
    const confirms = await Promise.all(
      [0, 1, 2].map((i) => call(`${r.url(i)}/orders/settle-1/confirm`, 'POST')),
    );
    expect(confirms.map((a) => [a.status, a.body.status])).toEqual([
      [200, 'confirmed'],
      [200, 'confirmed'],
      [200, 'confirmed'],
    ]);
    const late = await call(`${r.url(0)}/orders/settle-1/cancel`, 'POST');
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ code: 'HOLD_CONFIRMED' });
    const cancels = await Promise.all(
      [0, 1, 2].map((i) => call(`${r.url(i)}/orders/settle-2/cancel`, 'POST')),
    );
    expect(cancels.map((a) => [a.status, a.body.status])).toEqual([
      [200, 'cancelled'],
      [200, 'cancelled'],
      [200, 'cancelled'],
    ]);
    // 10 - 3 confirmed; the 4 cancelled came back once.
    expect(await stocks(databaseUrl, ['settle'])).toEqual({ settle: 7 });
    const refused = await call(`${r.url(1)}/orders/settle-2/confirm`, 'POST');
    expect(refused.body).toMatchObject({ statusCode: 409, code: 'HOLD_CANCELLED' });
    expect((await call(`${r.url(2)}/orders/nope/confirm`, 'POST')).body).toMatchObject({
      statusCode: 404,
      code: 'HOLD_NOT_FOUND',
    });
    expect((await call(`${r.url(2)}/orders/nope/cancel`, 'POST')).status).toBe(404);
  });

  it('expiry returns the stock exactly once, whichever of the 3 replicas notices first', async () => {
    await restock('exp', 100);
    const before = await metricSum(r.urls, 'holds_settled_total', 'status="expired"');
    const created = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        hold(i, `exp-${i}`, [{ sku: 'exp', quantity: 2 }], { ttlMs: TTL_MS }),
      ),
    );
    expect(byStatus(created)).toEqual({ 201: 30 });
    expect(await stocks(databaseUrl, ['exp'])).toEqual({ exp: 40 });
    // Not yet due on the injected clock: every sweeper leaves them alone.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await stocks(databaseUrl, ['exp'])).toEqual({ exp: 40 });
    clock.advance(TTL_MS);
    await until('the sweepers expired all 30', async () =>
      (await stocks(databaseUrl, ['exp'])).exp === 100 ? true : undefined,
    );
    // Let every replica sweep a few more times: nothing comes back twice.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await stocks(databaseUrl, ['exp'])).toEqual({ exp: 100 });
    expect((await metricSum(r.urls, 'holds_settled_total', 'status="expired"')) - before).toBe(30);
    const [events] = await sql<{ count: string }>(
      databaseUrl,
      "SELECT count(*) FROM inventory_events WHERE kind = 'expire' AND sku = 'exp'",
    );
    expect(Number(events.count)).toBe(30);
    const confirm = await call(`${r.url(1)}/orders/exp-0/confirm`, 'POST');
    expect(confirm.body).toMatchObject({ statusCode: 409, code: 'HOLD_EXPIRED' });
    const cancel = await call(`${r.url(2)}/orders/exp-1/cancel`, 'POST');
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
    await (replicas as Replicas<ServiceInstance>).close();
    clock.advance(TTL_MS * 5);
    expect(await stocks(databaseUrl, ['down'])).toEqual({ down: 4 });
    await start();
    await until('a restarted replica expired the hold', async () =>
      (await stocks(databaseUrl, ['down'])).down === 10 ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await stocks(databaseUrl, ['down'])).toEqual({ down: 10 });
    expect((await call(`${r.url(1)}/orders/down-1`, 'GET')).body.status).toBe('expired');
  });

  it('a confirm that arrives after the expiry is refused even before any sweep', async () => {
    await restock('lazy', 5);
    await Promise.all(r.apps.map((app) => app.holdSweeper.stop()));
    try {
      expect(
        (await hold(0, 'lazy-1', [{ sku: 'lazy', quantity: 5 }], { ttlMs: TTL_MS })).status,
      ).toBe(201);
      clock.advance(TTL_MS);
      const confirm = await call(`${r.url(1)}/orders/lazy-1/confirm`, 'POST');
      expect(confirm.body).toMatchObject({ statusCode: 409, code: 'HOLD_EXPIRED' });
      expect(await stocks(databaseUrl, ['lazy'])).toEqual({ lazy: 5 });
    } finally {
      for (const app of r.apps) app.holdSweeper.start();
    }
  });

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
      const answer = await call(`${r.url(0)}/orders/bound-1/hold`, 'POST', body);
      expect({ body, status: answer.status }).toEqual({ body, status: 400 });
      expect(answer.body).toMatchObject({ code: 'VALIDATION_ERROR' });
      expect(String(answer.body.message)).toMatch(field);
    }
    expect(await stocks(databaseUrl, ['bound'])).toEqual({ bound: 100 });
    expect((await call(`${r.url(0)}/orders/bound-1`, 'GET')).status).toBe(404);
    const max = await hold(1, 'bound-2', [{ sku: 'bound', quantity: 1000 }], { ttlMs: 3600000 });
    expect(max.status).toBe(409);
  });

  it('a restock that returning the open holds would push past 10^9 is refused', async () => {
    const MAX = 1_000_000_000;
    await restock('cap', 10);
    expect((await hold(0, 'cap-1', [{ sku: 'cap', quantity: 5 }])).status).toBe(201);
    const over = await call(`${r.url(1)}/inventory/cap`, 'PUT', { stock: MAX });
    expect(over.body).toMatchObject({ statusCode: 409, code: 'STOCK_LIMIT_EXCEEDED' });
    await restock('cap', MAX - 5);
    expect((await call(`${r.url(2)}/orders/cap-1/cancel`, 'POST')).status).toBe(200);
    expect(await stocks(databaseUrl, ['cap'])).toEqual({ cap: MAX });
  });

  it('two orders over the same skus in opposite orders on different replicas, 500 times: none stuck, stock exact', async () => {
    // 500 pairs; each pair is two orders over one pair of skus, listed in opposite orders and
    // sent at once to two replicas. 10 sku pairs run side by side, 50 pairs on each.
    const PAIRS = 500;
    const SKU_PAIRS = 10;
    const STOCK = 35;
    for (let k = 0; k < SKU_PAIRS; k += 1) {
      await restock(`opp-${k}-x`, STOCK);
      await restock(`opp-${k}-y`, STOCK);
    }
    const answers: Answer[] = [];
    const acks: Ack[] = [];
    const started = Date.now();
    for (let batch = 0; batch < PAIRS; batch += SKU_PAIRS) {
      const round = await Promise.all(
        Array.from({ length: SKU_PAIRS }, (_, k) => {
          const i = batch + k;
          const xy = [
            { sku: `opp-${k}-x`, quantity: 1 },
            { sku: `opp-${k}-y`, quantity: 1 },
          ];
          return Promise.all([
            hold(i, `opp-a-${i}`, xy),
            hold(i + 1, `opp-b-${i}`, [...xy].reverse()),
          ]).then((pair) => {
            pair.forEach((a, side) => {
              if (a.status === 201)
                acks.push({ op: 'hold', orderId: `opp-${side ? 'b' : 'a'}-${i}`, lines: xy });
            });
            return pair;
          });
        }),
      );
      answers.push(...round.flat());
    }
    const elapsed = Date.now() - started;
    const outcomes: Record<string, number> = {};
    for (const a of answers) {
      const key = a.status === 201 ? '201' : `${a.status} ${String(a.body.code)}`;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
    console.log(
      `opposite-order holds: ${PAIRS} pairs in ${elapsed} ms: ${JSON.stringify(outcomes)}`,
    );
    // Every order is held or refused: no hang (each answer came), no half-held order.
    expect(answers).toHaveLength(PAIRS * 2);
    expect(
      Object.keys(outcomes).filter(
        (o) => !['201', '409 INSUFFICIENT_STOCK', '503 LOCK_NOT_ACQUIRED'].includes(o),
      ),
    ).toEqual([]);
    expect(outcomes['201']).toBe(STOCK * SKU_PAIRS);
    expect(outcomes['503 LOCK_NOT_ACQUIRED'] ?? 0).toBeLessThanOrEqual(25);
    const skus = Array.from({ length: SKU_PAIRS }, (_, k) => [`opp-${k}-x`, `opp-${k}-y`]).flat();
    expect(Object.values(await stocks(databaseUrl, skus))).toEqual(skus.map(() => 0));
    const [lines] = await sql<{ lines: string; holds: string }>(
      databaseUrl,
      `SELECT count(*) AS lines, count(DISTINCT order_id) AS holds
       FROM hold_lines WHERE order_id LIKE 'opp-%'`,
    );
    expect([Number(lines.lines), Number(lines.holds)]).toEqual([
      2 * STOCK * SKU_PAIRS,
      STOCK * SKU_PAIRS,
    ]);
    const verdict = await checkHistory(databaseUrl, acks);
    expect(verdict.violations).toEqual([]);
  }, 240_000);

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
        await new Promise((resolve) => setTimeout(resolve, (i % 60) * 10));
        const orderLines = [skus[i % 3], skus[(i + 1) % 3]].map((sku) => ({ sku, quantity: 1 }));
        const answer = await hold(i, `wipe-${i}`, orderLines);
        if (answer.status !== 201) return answer;
        acks.push({ op: 'hold', orderId: `wipe-${i}`, lines: orderLines });
        const settle = await call(
          `${r.url(i + 1)}/orders/wipe-${i}/${i % 2 ? 'confirm' : 'cancel'}`,
          'POST',
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
        for (const delay of [150, 300]) {
          await new Promise((resolve) => setTimeout(resolve, delay));
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
        expect((await call(`${atomic.url(0)}/inventory/${sku}`, 'PUT', { stock })).status).toBe(
          200,
        );
      }
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          call(`${atomic.url(i)}/orders/at-${i}/hold`, 'POST', {
            lines:
              i % 2
                ? [
                    { sku: 'at-y', quantity: 1 },
                    { sku: 'at-x', quantity: 1 },
                  ]
                : [{ sku: 'at-x', quantity: 1 }],
          }),
        ),
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
