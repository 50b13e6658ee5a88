import { join } from 'node:path';
import {
  eventually,
  httpCall,
  startServiceProcess,
  topologiesUnderTest,
  until,
  type HttpAnswer,
  type ServiceProcess,
} from '@redis-patterns/testkit';
import { clientIdentity } from '../src/rate-limit/client-identity';
import { limitKeys, rateLimitKeyBuilder } from '../src/rate-limit/rate-limit-keys';
import {
  ALGORITHM_POLICY_DOCUMENT,
  algorithmRoute,
  LEASE_MS,
  threeAlgorithmGateways,
} from './gateway-harness';

describe.each(topologiesUnderTest())(
  'gateway-ratelimit: concurrency limits across three replicas on %s',
  (kind) => {
    const { fixture, freshIp } = threeAlgorithmGateways(kind);

    it('concurrency: at most the limit in flight, slots freed on response and on client abort', async () => {
      const ip = freshIp();
      const headers = { 'x-forwarded-for': ip };
      const slow = (i: number) =>
        httpCall(fixture().gateways.url(i), 'GET', '/api/products/slow', { headers });
      const fast = (i: number) =>
        httpCall(fixture().gateways.url(i), 'GET', '/api/products/fast', { headers });
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => slow(i)));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(3);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(7);
      const refusal = answers.find((a) => a.status === 429) as HttpAnswer;
      expect(refusal.body.message).toMatch(/Concurrency limit of 3 requests in flight/);
      // Responses ended: all three slots are free again.
      const again = await Promise.all(Array.from({ length: 3 }, (_, i) => slow(i)));
      expect(again.map((a) => a.status)).toEqual([200, 200, 200]);

      // Three clients abort while upstream still works: their slots are freed at once, long
      // before the upstream would answer (3 s) or a lease would expire.
      const controller = new AbortController();
      const aborted = Array.from({ length: 3 }, (_, i) =>
        fetch(`${fixture().gateways.url(i)}/api/products/slow`, {
          headers,
          signal: controller.signal,
        }).catch(() => undefined),
      );
      const [leases] = limitKeys(
        rateLimitKeyBuilder(fixture().prefix),
        algorithmRoute('in-flight'),
        [clientIdentity(undefined, ip)],
      );
      await eventually('the three aborting clients to hold every slot', async () =>
        expect(await fixture().redis.zcard(leases)).toBe(3),
      );
      controller.abort();
      await Promise.all(aborted);
      // Freed well before the upstream would have answered them (3 s after they were sent).
      await eventually(
        'the aborted clients to free their three slots',
        async () =>
          expect((await Promise.all([0, 1, 2].map(fast))).map((a) => a.status)).toEqual([
            200, 200, 200,
          ]),
        { timeoutMs: 2000 },
      );
      const started = Date.now();
      const afterAbort = await Promise.all(Array.from({ length: 3 }, (_, i) => slow(i)));
      expect(afterAbort.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(Date.now() - started).toBeLessThan(3000 + 2500);
    });

    it('concurrency: a SIGKILLed replica leaks no slot beyond the lease', async () => {
      const ip = freshIp();
      let doomed: ServiceProcess | undefined = await startServiceProcess(
        join(__dirname, '..', 'src', 'server.ts'),
        {
          NODE_OPTIONS: '--conditions=@redis-patterns/source -r @swc-node/register',
          ...fixture().topology.env,
          REDIS_KEY_PREFIX: fixture().prefix,
          PRODUCTS_URL: fixture().upstreamUrls.products.join(','),
          TRUST_PROXY: 'true',
          RATE_LIMIT_POLICIES: JSON.stringify(ALGORITHM_POLICY_DOCUMENT),
          // Decisions, not a loaded machine's slow answers turned into local fail-open ones.
          REDIS_COMMAND_TIMEOUT_MS: '5000',
          LOG_LEVEL: 'error',
          ADMIN_PORT: '0',
        },
      );
      try {
        // A probe below may take a slot before a hold does (that hold is refused 429): it is sent
        // again, so the doomed replica ends up holding all three.
        const hold = (): Promise<unknown> =>
          httpCall(String(doomed?.url), 'GET', '/api/products/hold', {
            headers: { 'x-forwarded-for': ip },
          })
            .then((answer) => (answer.status === 429 ? hold() : answer))
            .catch(() => undefined);
        const held = Array.from({ length: 3 }, hold);
        await until(
          'three leases held by the doomed replica',
          async () => {
            const probe = await httpCall(fixture().gateways.url(0), 'GET', '/api/products/fast', {
              headers: { 'x-forwarded-for': ip },
            });
            return probe.status === 429 ? true : undefined;
          },
          10000,
        );
        await doomed.stop('SIGKILL');
        doomed = undefined;
        const killedAt = Date.now();
        await Promise.all(held);
        // Its slots stay held (nobody released them) ...
        const during = await httpCall(fixture().gateways.url(1), 'GET', '/api/products/fast', {
          headers: { 'x-forwarded-for': ip },
        });
        expect(during.status).toBe(429);
        // ... until their lease expires: then they are free again.
        const freed = await until(
          'the dead replica leases to expire',
          async () => {
            const probe = await httpCall(fixture().gateways.url(2), 'GET', '/api/products/fast', {
              headers: { 'x-forwarded-for': ip },
            });
            return probe.status === 200 ? Date.now() - killedAt : undefined;
          },
          LEASE_MS + 8000,
        );
        process.stdout.write(
          `${kind} concurrency: slots of a SIGKILLed replica free after ${freed} ms (lease ${LEASE_MS} ms)\n`,
        );
        expect(freed).toBeLessThan(LEASE_MS + 5000);
      } finally {
        await doomed?.stop('SIGKILL');
      }
    }, 60_000);
  },
);
