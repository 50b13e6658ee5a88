// The local cluster (tools/dev/cluster.cjs, the launcher of `npm start`) on free ports with its
// own Redis and PostgreSQL, configured so that a test's own traffic is never rate limited except
// through the one API key it uses to prove the limit.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../../dev/cluster.cjs';

/** API key of the `tiny` tier: 5 requests per minute. */
export const LIMITED_API_KEY = 'e2e-limited-key-0001';
export const LIMITED_TIER_LIMIT = 5;

/** High limits for the test's own traffic; the login route keeps its fail-closed policy. */
export const TEST_POLICIES = {
  default: { limit: 10_000_000, windowMs: 60_000 },
  routes: [
    {
      name: 'login',
      method: 'POST',
      path: '/api/auth/login',
      limit: 10_000_000,
      windowMs: 60_000,
      failMode: 'closed',
    },
  ],
  tiers: { tiny: { limit: LIMITED_TIER_LIMIT, windowMs: 60_000 } },
  apiKeys: { [LIMITED_API_KEY]: 'tiny' },
};

export interface TestCluster extends Cluster {
  /** Stops every process and removes the data directory. */
  close(): Promise<void>;
}

export async function startTestCluster(
  options: { policies?: object; extraEnv?: Record<string, Record<string, string>> } = {},
): Promise<TestCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rp-e2e-'));
  // The embedded PostgreSQL runs as the `postgres` user when we are root: it must reach its dir.
  chmodSync(dataDir, 0o755);
  const env: Record<string, Record<string, string>> = {
    'gateway-ratelimit': {
      RATE_LIMIT_POLICIES: JSON.stringify(options.policies ?? TEST_POLICIES),
    },
    // Half the default scrypt cost: logins stay realistic but cheaper on a 2-core machine.
    'auth-session': { PASSWORD_SCRYPT_COST: '16384' },
    'chat-realtime': { CHAT_RATE_LIMIT_MAX: '100000' },
  };
  for (const [service, vars] of Object.entries(options.extraEnv ?? {})) {
    env[service] = { ...env[service], ...vars };
  }
  let cluster: Cluster;
  try {
    cluster = await startCluster({
      replicas: 2,
      freePorts: true,
      ownRedis: true,
      ownPostgres: true,
      dataDir,
      env,
      log: () => undefined,
      readyTimeoutMs: 120_000,
    });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  return Object.assign(cluster, {
    async close() {
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** Sum of a Prometheus counter (all label sets, or those containing `labels`) on one instance. */
export async function metricSum(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Waits until every instance answers 200 on /health/ready. */
export async function waitAllReady(cluster: Cluster, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await Promise.all(
      cluster.instances.map((i) =>
        fetch(`${i.url}/health/ready`).then(
          (r) => r.status === 200,
          () => false,
        ),
      ),
    );
    if (ready.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error('the cluster did not become ready again');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
