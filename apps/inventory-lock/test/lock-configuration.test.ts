import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  processServer,
  startPostgres,
  startRedisServers,
  uniquePrefix,
  until,
  type PostgresServer,
  type RedisServer,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { testConfig } from './inventory-harness';

const SECRET = 's3cret-never-printed';
const SERVER_TS = join(__dirname, '..', 'src', 'server.ts');

/** The startup error of a service whose Redlock masters are `lockUrls`. */
async function refusal(databaseUrl: string, redisUrl: string, lockUrls: string[]): Promise<string> {
  const started = buildApp(
    testConfig({ redisUrl, lockUrls, databaseUrl, keyPrefix: uniquePrefix('inv') }),
  );
  const error = await started.then(
    async (app) => {
      await app.close();
      return undefined;
    },
    (raised: Error) => raised,
  );
  if (!error) throw new Error(`the service started with Redlock masters ${lockUrls.join(',')}`);
  return error.message;
}

/** Runs `src/server.ts` as its own process; resolves with its exit code and output. */
function runServer(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SERVER_TS],
      {
        env: {
          ...process.env,
          NODE_OPTIONS: '--conditions=@redis-patterns/source -r @swc-node/register',
          LOG_LEVEL: 'warn',
          PORT: '0',
          HOST: '127.0.0.1',
          ...env,
        },
        timeout: 60000,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? (error.code as number | null) : 0, output: stdout + stderr }),
    );
  });
}

describe('inventory-lock refuses Redlock masters that cannot work', () => {
  let postgres: PostgresServer;
  let databaseUrl: string;
  let standalone: RedisServer[] = [];
  let primary: RedisServer;
  let replica: RedisServer;
  let clusterNode: RedisServer;

  beforeAll(async () => {
    postgres = await startPostgres();
    databaseUrl = await postgres.createDatabase();
    standalone = await startRedisServers(2);
    // A password-protected master with one replica: neither may be a Redlock master.
    primary = await processServer({ args: ['--requirepass', SECRET] });
    replica = await processServer({
      args: [
        '--requirepass',
        SECRET,
        '--masterauth',
        SECRET,
        '--replicaof',
        primary.host,
        String(primary.port),
      ],
    });
    clusterNode = await processServer({
      args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
    });
    const admin = new Redis(primary.url, { password: SECRET });
    try {
      await until('the replica to be online', async () =>
        (await admin.info('replication')).includes('state=online') ? true : undefined,
      );
    } finally {
      admin.disconnect();
    }
  });
  afterAll(async () => {
    await postgres?.stop();
    await Promise.all(
      [...standalone, primary, replica, clusterNode].filter(Boolean).map((s) => s.stop()),
    );
  });

  const withSecret = (server: RedisServer) => `redis://:${SECRET}@${server.host}:${server.port}`;

  it('a Redis Cluster node: refused, naming REDLOCK_URLS and MOVED', async () => {
    const message = await refusal(databaseUrl, standalone[0].url, [
      standalone[0].url,
      standalone[1].url,
      clusterNode.url,
    ]);
    expect(message).toMatch(/^REDLOCK_URLS: refusing/);
    expect(message).toContain(`127.0.0.1:${clusterNode.port} is a Redis Cluster node`);
    expect(message).toMatch(/MOVED/);
    expect(message).not.toContain(`${standalone[0].port} is`);
  });

  it('a replica: refused (role:slave), and the password is never printed', async () => {
    const message = await refusal(databaseUrl, standalone[0].url, [
      standalone[0].url,
      standalone[1].url,
      withSecret(replica),
    ]);
    expect(message).toContain(`127.0.0.1:${replica.port} is a replica (role:slave)`);
    expect(message).not.toContain(SECRET);
  });

  it('a master with a replica: refused (connected_slaves:1), password not printed', async () => {
    const message = await refusal(databaseUrl, standalone[0].url, [
      standalone[0].url,
      standalone[1].url,
      withSecret(primary),
    ]);
    expect(message).toContain(`127.0.0.1:${primary.port} has 1 connected replica(s)`);
    expect(message).not.toContain(SECRET);
  });

  it('one server under two names: refused (same run_id)', async () => {
    const alias = `redis://localhost:${standalone[1].port}`;
    const message = await refusal(databaseUrl, standalone[0].url, [
      standalone[0].url,
      standalone[1].url,
      alias,
    ]);
    expect(message).toMatch(/are the same server \(run_id [0-9a-f]+\)/);
  });

  it('independent standalone masters: accepted, ready, a reservation goes through', async () => {
    const app = await buildApp(
      testConfig({
        redisUrl: standalone[0].url,
        lockUrls: standalone.map((s) => s.url),
        databaseUrl,
        keyPrefix: uniquePrefix('inv'),
      }),
    );
    try {
      const ready = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.json()).toMatchObject({ status: 'ok', checks: { 'redlock-quorum': 'ok' } });
      await app.inject({ method: 'PUT', url: '/inventory/ok-1', payload: { stock: 1 } });
      const made = await app.inject({
        method: 'POST',
        url: '/inventory/ok-1/reservations',
        payload: { orderId: 'ok-1', quantity: 1 },
      });
      expect(made.statusCode).toBe(201);
      expect(await app.inject({ method: 'GET', url: '/metrics' }).then((r) => r.body)).toMatch(
        /^redlock_masters_refused 0$/m,
      );
    } finally {
      await app.close();
    }
  });

  it('a master down at startup that comes back as a Cluster node gets no vote', async () => {
    const late = await processServer();
    const port = late.port;
    await late.stop();
    let app: ServiceInstance | undefined;
    let reborn: RedisServer | undefined;
    try {
      app = await buildApp(
        testConfig({
          redisUrl: standalone[0].url,
          lockUrls: [...standalone.map((s) => s.url), `redis://127.0.0.1:${port}`],
          databaseUrl,
          keyPrefix: uniquePrefix('inv'),
        }),
      );
      // Owning every slot, this node would grant the probe lock: only the inspection stops it.
      reborn = await processServer({
        port,
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
      });
      const admin = new Redis(reborn.url);
      try {
        await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
        await until('the one-node Cluster to serve every slot', async () =>
          String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')
            ? true
            : undefined,
        );
        expect(await admin.set('probe', '1', 'PX', 1000, 'NX')).toBe('OK');
      } finally {
        admin.disconnect();
      }
      const server = app;
      await until(
        'the late master to be inspected and refused',
        async () => {
          const metrics = (await server.inject({ method: 'GET', url: '/metrics' })).body;
          return /^redlock_masters_refused 1$/m.test(metrics) ? true : undefined;
        },
        10000,
      );
      await standalone[1].pause();
      try {
        const ready = await app.inject({ method: 'GET', url: '/health/ready' });
        expect(ready.statusCode).toBe(503);
        expect(ready.json().checks['redlock-quorum']).toBe('down');
      } finally {
        await standalone[1].resume();
      }
      await until('ready again', async () =>
        (await server.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200
          ? true
          : undefined,
      );
    } finally {
      await app?.close();
      await reborn?.stop();
    }
  });

  it('the real process exits 1 with one line naming REDLOCK_URLS, no password', async () => {
    const { code, output } = await runServer({
      REDIS_URL: withSecret(replica),
      DATABASE_URL: databaseUrl,
    });
    expect(code).toBe(1);
    expect(output).toContain('Cannot start: REDLOCK_URLS: refusing a lock configuration');
    expect(output).toContain(
      `127.0.0.1:${replica.port} (REDIS_URL, as REDLOCK_URLS is unset) is a replica`,
    );
    expect(output).not.toContain(SECRET);

    const cluster = await runServer({
      REDIS_CLUSTER_NODES: `127.0.0.1:${clusterNode.port}`,
      DATABASE_URL: databaseUrl,
    });
    expect(cluster.code).toBe(1);
    expect(cluster.output).toMatch(/Invalid configuration: REDLOCK_URLS is unset .* Cluster/);
  });
});
