import { delay, until } from '@redis-patterns/testkit';
import {
  type Answer,
  cacheCall,
  cacheOnEveryReplica,
  lockProducts,
  postgresPerFile,
  serversPerBlock,
  servicePerBlock,
  waitingOnLock,
} from './cache-harness';

const postgres = postgresPerFile({ faults: true });

// Replica-local logic (the waiting list of one replica): standalone.
describe('on standalone', () => {
  const servers = serversPerBlock('standalone', postgres);

  describe('lease waiters per key are capped', () => {
    const maxWaiters = 3;
    const ttlMs = 1000;
    const replicas = servicePerBlock(1, servers, {
      l1Enabled: false,
      ttlMs,
      ttlJitter: 0,
      staleGraceMs: 30_000,
      maxWaiters,
      softTimeoutMs: 800,
      hardTimeoutMs: 900,
    });

    /** One read stalled on the lock, then `n` more: the first `maxWaiters` queue, the rest do not. */
    async function burst(id: number, n: number) {
      const url = `${replicas().url(0)}/products/${id}`;
      const first = cacheCall(url);
      await until(
        'the first read waits for the lock',
        async () => (await waitingOnLock(servers())) > 0 || undefined,
        3000,
      );
      const settled: Answer[] = [];
      const rest = Array.from({ length: n }, () =>
        cacheCall(url).then((answer) => {
          settled.push(answer);
          return answer;
        }),
      );
      const overflow = await until(
        'the reads past the cap answered',
        async () => (settled.length >= n - maxWaiters ? settled.slice() : undefined),
        3000,
      );
      return { first, rest: Promise.all(rest), overflow };
    }

    it('without a copy: past the cap, 503 LOAD_QUEUE_FULL with Retry-After at once; the queued ones get the value', async () => {
      const release = await lockProducts(servers());
      let result: Awaited<ReturnType<typeof burst>>;
      try {
        result = await burst(291, 10);
        expect(result.overflow).toHaveLength(10 - maxWaiters);
        for (const answer of result.overflow) {
          expect(answer.status).toBe(503);
          expect(answer.body).toMatchObject({ code: 'LOAD_QUEUE_FULL' });
          expect(answer.headers['retry-after']).toBe('1');
          expect(answer.ms).toBeLessThan(200);
        }
      } finally {
        await release();
      }
      const queued = [await result.first, ...(await result.rest).filter((a) => a.status !== 503)];
      expect(queued.map((a) => `${a.status} ${a.cache}`)).toEqual(
        Array.from({ length: 1 + maxWaiters }, () => '200 miss'),
      );
    });

    it('with a stale copy: past the cap, the stale copy at once', async () => {
      const id = 292;
      await cacheOnEveryReplica(replicas(), [id]);
      await delay(ttlMs + 100);
      const release = await lockProducts(servers());
      try {
        const { first, rest, overflow } = await burst(id, 10);
        expect(overflow.map((a) => `${a.status} ${a.cache}`)).toEqual(
          overflow.map(() => '200 stale'),
        );
        expect(Math.max(...overflow.map((a) => a.ms))).toBeLessThan(200);
        const waited = [await first, ...(await rest)];
        expect(waited.every((a) => a.status === 200 && a.cache === 'stale')).toBe(true);
      } finally {
        await release();
      }
    });
  });
});
