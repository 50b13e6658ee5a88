import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app';
import { parsePolicies } from '../src/rate-limit/rate-limit-policy';
import {
  delay,
  httpCall,
  startRedis,
  startReplicas,
  uniquePrefix,
  until,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  closeGateways,
  gatewayMetrics,
  startUpstreams,
  testConfig,
  type Upstream,
} from './gateway-harness';

const before = {
  default: { limit: 1_000_000, windowMs: 3_600_000 },
  routes: [{ name: 'roomy', path: '/api/inventory/*', limit: 1_000_000, windowMs: 3_600_000 }],
};
const after = {
  default: { limit: 1_000_000, windowMs: 3_600_000 },
  routes: [{ name: 'tight', path: '/api/inventory/*', limit: 5, windowMs: 3_600_000 }],
};

// Policy selection and reload are the same on every Redis topology: standalone is enough.
describe('gateway-ratelimit: policies reloaded from their file under load', () => {
  let redis: RedisServer;
  let upstreams: Upstream[] = [];
  let gateways: Replicas<ServiceInstance>;
  let dir: string;
  let file: string;

  /** Replaces the file the way a ConfigMap update does: a new file swapped in. */
  const publish = (content: string) => {
    const next = join(dir, `next-${Date.now()}.json`);
    writeFileSync(next, content);
    renameSync(next, file);
  };
  const reloads = async (result: 'ok' | 'invalid') => {
    let total = 0;
    for (const app of gateways.apps) {
      const metrics = await gatewayMetrics(app);
      const match = new RegExp(
        `ratelimit_policy_reloads_total\\{result="${result}"\\} (\\d+)`,
      ).exec(metrics);
      if (match && Number(match[1]) > 0) total += 1;
    }
    return total;
  };

  beforeAll(async () => {
    redis = await startRedis();
    const started = await startUpstreams();
    upstreams = started.all;
    dir = mkdtempSync(join(tmpdir(), 'gw-policies-'));
    file = join(dir, 'policies.json');
    writeFileSync(file, JSON.stringify(before));
    const prefix = uniquePrefix('gw');
    gateways = await startReplicas(3, () =>
      buildApp(
        testConfig({
          redis: redis.url,
          keyPrefix: prefix,
          upstreams: started.urls,
          policies: parsePolicies(before),
          policiesFile: file,
          upstreamTimeoutMs: 10000,
        }),
      ),
    );
  });
  afterAll(async () => {
    await closeGateways(gateways);
    await Promise.all(upstreams.map((u) => u.close()));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('changes decisions without a failed request; a bad file keeps the policies in force', async () => {
    const answers: { status: number; policy: string | null }[] = [];
    const failures: unknown[] = [];
    let running = true;
    let turn = 0;
    const worker = async () => {
      while (running) {
        const url = gateways.url(turn++);
        try {
          const answer = await httpCall(url, 'GET', '/api/inventory/x', {
            headers: { 'x-forwarded-for': '10.6.0.1' },
          });
          answers.push({ status: answer.status, policy: answer.headers.get('ratelimit-policy') });
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const workers = Array.from({ length: 6 }, () => worker());
    try {
      await until(
        'answers under the first policies',
        async () => (answers.length > 30 ? true : undefined),
        10000,
      );
      publish(JSON.stringify(after));
      await until(
        'every replica to reload',
        async () => ((await reloads('ok')) === 3 ? true : undefined),
        10000,
      );
      await until(
        'refusals under the new policy',
        async () => (answers.some((a) => a.status === 429) ? true : undefined),
        10000,
      );
      publish('{"routes": [{"name": "broken", "path": "/api/inventory/*", "limit": 0}]}');
      await until(
        'every replica to reject the bad file',
        async () => ((await reloads('invalid')) === 3 ? true : undefined),
        10000,
      );
      const mark = answers.length;
      await delay(1000);
      // Still the reloaded policy: the bad file changed nothing.
      expect(
        answers.slice(mark).every((a) => a.status === 429 && a.policy?.startsWith('"tight"')),
      ).toBe(true);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    expect(failures).toEqual([]);
    expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
    const first429 = answers.findIndex((a) => a.status === 429);
    expect(answers.slice(0, 30).every((a) => a.policy?.startsWith('"roomy"'))).toBe(true);
    // The new policy admitted exactly its limit over the three replicas.
    expect(answers.filter((a) => a.status === 200 && a.policy?.startsWith('"tight"'))).toHaveLength(
      5,
    );
    expect(first429).toBeGreaterThan(30);
  }, 60_000);
});
