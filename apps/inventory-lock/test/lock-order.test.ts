import { inParallel, type HttpAnswer } from '@redis-patterns/testkit';
import { checkHistory, type Ack } from './history-checker';
import { holdsLab, type InventoryLab, sql, stocks } from './inventory-harness';

// Guarantee: multi-sku orders take their locks in one global order (sorted skus), so two orders
// over the same skus listed in opposite orders never deadlock: each is held or refused, and the
// stock stays exact.

describe('lock order: 3 replicas, 3 Redlock masters', () => {
  const { lab } = holdsLab();
  let databaseUrl: string;
  beforeAll(() => ({ databaseUrl } = lab()));
  const hold: InventoryLab['hold'] = (...args) => lab().hold(...args);
  const restock: InventoryLab['restock'] = (...args) => lab().restock(...args);

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
    const answers: HttpAnswer[] = [];
    const acks: Ack[] = [];
    const started = Date.now();
    for (let batch = 0; batch < PAIRS; batch += SKU_PAIRS) {
      const round = await inParallel(SKU_PAIRS, SKU_PAIRS, (k) => {
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
      });
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
});
