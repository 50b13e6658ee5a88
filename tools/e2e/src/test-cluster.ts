// The local system (tools/dev/cluster.ts, the launcher of `npm start`) on free ports with its
// own Redis topology and PostgreSQL, configured so that a test's own traffic is never rate
// limited except through the one API key it uses to prove the limit.
import { createHash } from 'node:crypto';
import { eventually, httpCall } from '@redis-patterns/testkit';
import {
  hasExited,
  startCluster,
  type Cluster,
  type Instance,
  type TopologyKind,
} from '../../dev/cluster';
import { DEV_API_KEYS } from '../../dev/services';

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
    ...DEV_API_KEYS.keys,
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
  const { text } = await httpCall(url, 'GET', '/metrics');
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Waits until every instance answers 200 on /health/ready. */
export async function waitAllReady(cluster: Cluster, timeoutMs: number): Promise<void> {
  await eventually(
    'every instance of the cluster ready again',
    async () => {
      const statuses = await Promise.all(
        cluster.instances.map((i) =>
          httpCall(i.url, 'GET', '/health/ready', { timeoutMs: 5000 }).then(
            (answer) => answer.status,
            () => 0,
          ),
        ),
      );
      const notReady = cluster.instances.filter((_, n) => statuses[n] !== 200);
      if (notReady.length)
        throw new Error(`not ready: ${notReady.map((i) => `${i.service}#${i.index}`).join(' ')}`);
    },
    { timeoutMs, intervalMs: 200 },
  );
}

/** Sends `signal` to one instance and resolves once it exited; rejects, naming it, after `timeoutMs`. */
export async function stopInstance(
  instance: Instance,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<void> {
  instance.child.kill(signal);
  await eventually(
    `${instance.service}#${instance.index} exiting after ${signal}`,
    () => {
      if (!hasExited(instance.child)) throw new Error(`pid ${instance.child.pid} still runs`);
    },
    { timeoutMs },
  );
}
