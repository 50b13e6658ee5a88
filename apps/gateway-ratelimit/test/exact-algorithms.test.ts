import { topologiesUnderTest, delay, inParallel, httpCall } from '@redis-patterns/testkit';
import { clientIdentity } from '../src/rate-limit/client-identity';
import { limitKeys, rateLimitKeyBuilder } from '../src/rate-limit/rate-limit-keys';
import { algorithmRoute, SLIDING_WINDOW_MS, threeAlgorithmGateways } from './gateway-harness';

describe.each(topologiesUnderTest())(
  'gateway-ratelimit: every algorithm exact across three replicas on %s',
  (kind) => {
    const { fixture, freshIp, burst, passed, refusedAll } = threeAlgorithmGateways(kind);

    it('fixed window: exactly the limit of 300 concurrent requests', async () => {
      const answers = await burst(300, '/api/inventory/fixed', freshIp());
      expect(refusedAll(answers)).toBe(true);
      expect(passed(answers)).toBe(50);
    });

    it('sliding window: exactly the limit in a fresh window', async () => {
      const answers = await burst(300, '/api/inventory/sliding', freshIp());
      expect(refusedAll(answers)).toBe(true);
      expect(passed(answers)).toBe(50);
    });

    it('sliding window: the next window admits what the weighted previous one leaves, within the stated error', async () => {
      const ip = freshIp();
      const send = (i: number) =>
        httpCall(fixture().gateways.url(i), 'GET', '/api/inventory/sliding-edge', {
          headers: { 'x-forwarded-for': ip },
        });
      // Start just after a window boundary (Redis and this process share the machine's clock).
      await delay(SLIDING_WINDOW_MS - (Date.now() % SLIDING_WINDOW_MS) + 50);
      const windowOf = () => Math.floor(Date.now() / SLIDING_WINDOW_MS);
      const firstWindow = windowOf();
      const first = await inParallel(40, 10, send);
      expect(windowOf()).toBe(firstWindow);
      expect(passed(first)).toBe(40);
      // Half-way into the next window the previous 40 weigh about 20: admitted until then.
      await delay(SLIDING_WINDOW_MS - (Date.now() % SLIDING_WINDOW_MS) + SLIDING_WINDOW_MS / 2);
      const from = (Date.now() % SLIDING_WINDOW_MS) / SLIDING_WINDOW_MS;
      let admitted = 0;
      for (let i = 0; ; i += 1) {
        const answer = await send(i);
        if (answer.status !== 200) break;
        admitted += 1;
      }
      expect(windowOf()).toBe(firstWindow + 1);
      const to = (Date.now() % SLIDING_WINDOW_MS) / SLIDING_WINDOW_MS;
      process.stdout.write(
        `${kind} sliding window: ${admitted} admitted at ${from.toFixed(2)}-${to.toFixed(2)} of the next window (estimate 40 x f)\n`,
      );
      // The estimate is previous x (1 - f) + current <= limit: current reaches 40 x f.
      expect(admitted).toBeGreaterThanOrEqual(Math.floor(40 * from) - 1);
      expect(admitted).toBeLessThanOrEqual(Math.ceil(40 * to) + 1);
    }, 60_000);

    it('GCRA: exactly the burst at once, not the rate', async () => {
      const answers = await burst(200, '/api/inventory/burst', freshIp());
      expect(passed(answers)).toBe(30);
    });

    it('several limits per route: the tightest decides, and a refused request consumes no quota of any', async () => {
      const ip = freshIp();
      const answers = await burst(60, '/api/inventory/two', ip);
      expect(passed(answers)).toBe(5);
      const keys = limitKeys(rateLimitKeyBuilder(fixture().prefix), algorithmRoute('two-limits'), [
        clientIdentity(undefined, ip),
        clientIdentity(undefined, ip),
      ]);
      // Both counters hold the 5 admitted requests, not the 55 refused ones.
      expect(await fixture().redis.get(keys[0])).toBe('5');
      expect(await fixture().redis.get(keys[1])).toBe('5');
    });

    it('cost-weighted requests: a route costing 10 of 100 admits exactly 10', async () => {
      const answers = await burst(60, '/api/inventory/costly', freshIp());
      expect(passed(answers)).toBe(10);
    });
  },
);
