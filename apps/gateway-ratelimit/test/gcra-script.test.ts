import { createRedis, waitForReady, type RedisClient } from '@redis-patterns/redis-core';
import {
  delay,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  type RedisTopology,
} from '@redis-patterns/testkit';
import { closeClient, gcraDecide } from './gateway-harness';

describe.each(topologiesUnderTest())(
  'rate-limit-decide.lua (GCRA) against a real Redis on %s',
  (kind) => {
    let topology: RedisTopology;
    let client: RedisClient;
    const key = (name: string) => `${uniquePrefix('gcra')}:${name}`;

    beforeAll(async () => {
      topology = await startTopology(kind);
      client = createRedis({ ...topology.config, commandTimeoutMs: 2000 });
      await waitForReady(client, 5000);
    });
    afterAll(async () => {
      await closeClient(client);
      await topology.stop();
    });

    it('admits exactly the burst out of 500 concurrent calls', async () => {
      const k = key('burst');
      const replies = await Promise.all(
        Array.from({ length: 500 }, () => gcraDecide(client, k, 50, 3_600_000)),
      );
      expect(replies.filter(([allowed]) => allowed === 1)).toHaveLength(50);
      const remaining = replies.filter(([allowed]) => allowed === 1).map(([, r]) => r);
      expect(new Set(remaining).size).toBe(50);
      expect(Math.min(...remaining)).toBe(0);
    });

    it('handles a limit of 1 and does not move the TAT on refusals', async () => {
      const k = key('one');
      expect((await gcraDecide(client, k, 1, 1000))[0]).toBe(1);
      const first = await gcraDecide(client, k, 1, 1000);
      for (let i = 0; i < 20; i += 1) await gcraDecide(client, k, 1, 1000);
      const later = await gcraDecide(client, k, 1, 1000);
      expect(first[0]).toBe(0);
      expect(later[0]).toBe(0);
      // Hammering did not extend the wait: it only shrank with time.
      expect(later[2]).toBeLessThanOrEqual(first[2]);
      expect(first[2]).toBeGreaterThan(0);
      expect(first[2]).toBeLessThanOrEqual(1000);
    });

    it('refills at limit / window and lets the key expire when full', async () => {
      const k = key('refill');
      for (let i = 0; i < 4; i += 1) expect((await gcraDecide(client, k, 4, 800))[0]).toBe(1);
      const refused = await gcraDecide(client, k, 4, 800);
      expect(refused[0]).toBe(0);
      await delay(refused[2] + 20);
      expect((await gcraDecide(client, k, 4, 800))[0]).toBe(1);
      await delay(900);
      expect(await client.exists(k)).toBe(0);
    });
  },
);
