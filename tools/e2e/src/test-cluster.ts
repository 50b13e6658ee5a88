// The local system (tools/dev/cluster.ts, the launcher of `npm start`) on free ports with its
// own Redis topology and PostgreSQL, configured so that a test's own traffic is never rate
// limited except through the one API key it uses to prove the limit.
import { createHash } from 'node:crypto';
import { DEV_API_KEY, startCluster, type Cluster, type TopologyKind } from '../../dev/cluster';

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
};

/** The gateway's key registry: issued keys, by their SHA-256 digest only (npm start's too). */
export const TEST_API_KEYS = {
  keys: [
    { sha256: createHash('sha256').update(DEV_API_KEY).digest('hex'), consumer: 'dev' },
    {
      sha256: createHash('sha256').update(LIMITED_API_KEY).digest('hex'),
      consumer: 'e2e-limited',
      tier: 'tiny',
    },
  ],
};

export interface TestCluster extends Cluster {
  /** Stops every process (and removes the servers' data). */
  close(): Promise<void>;
}

export interface TestClusterOptions {
  /** The Redis deployment. @default 'standalone' */
  topology?: TopologyKind;
  policies?: object;
  extraEnv?: Record<string, Record<string, string>>;
  /** Replicas of every service. @default 2 */
  replicas?: number;
}

export async function startTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const env: Record<string, Record<string, string>> = {
    'gateway-ratelimit': {
      RATE_LIMIT_POLICIES: JSON.stringify(options.policies ?? TEST_POLICIES),
      API_KEYS: JSON.stringify(TEST_API_KEYS),
    },
    // Half the default scrypt cost: logins stay realistic but cheaper on a 2-core machine.
    'auth-session': { PASSWORD_SCRYPT_COST: '16384' },
    'chat-realtime': { CHAT_RATE_LIMIT_MAX: '100000' },
  };
  for (const [service, vars] of Object.entries(options.extraEnv ?? {})) {
    env[service] = { ...env[service], ...vars };
  }
  const cluster = await startCluster({
    replicas: options.replicas ?? 2,
    topology: options.topology ?? 'standalone',
    freePorts: true,
    ownRedis: true,
    ownPostgres: true,
    env,
    log: () => undefined,
    readyTimeoutMs: 120_000,
  });
  return Object.assign(cluster, { close: () => cluster.stop() });
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
