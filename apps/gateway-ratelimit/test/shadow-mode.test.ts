import { topologiesUnderTest } from '@redis-patterns/testkit';
import { gatewayMetrics, threeAlgorithmGateways } from './gateway-harness';

describe.each(topologiesUnderTest())(
  'gateway-ratelimit: shadow mode across three replicas on %s',
  (kind) => {
    const { fixture, freshIp, burst, passed } = threeAlgorithmGateways(kind);

    it('shadow mode admits everything and counts what it would have refused', async () => {
      const answers = await burst(20, '/api/inventory/shadow', freshIp(), 5);
      expect(passed(answers)).toBe(20);
      let shadowed = 0;
      for (const app of fixture().gateways.apps) {
        const metrics = await gatewayMetrics(app);
        const match =
          /ratelimit_decisions_total\{policy="shadowed",result="shadow_limited"\} (\d+)/.exec(
            metrics,
          );
        shadowed += Number(match?.[1] ?? 0);
      }
      expect(shadowed).toBe(15);
    });
  },
);
