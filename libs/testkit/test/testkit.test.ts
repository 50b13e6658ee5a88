import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { Client } from 'pg';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import {
  freePort,
  startPostgres,
  startRedis,
  startRedisServers,
  startReplicas,
  uniquePrefix,
} from '@redis-patterns/testkit';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function client(url: string): Redis {
  return new Redis(url, { commandTimeout: 300, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
}

describe('testkit Redis fault controls', () => {
  it('pause stalls commands, resume answers them, kill/start gives an empty server on the same port', async () => {
    const server = await startRedis({ faults: true });
    const redis = client(server.url);
    try {
      expect(server.source === 'process' || server.source === 'container').toBe(true);
      await redis.set('k', 'v');
      await server.pause();
      await expect(redis.get('k')).rejects.toThrow(/timed out/i);
      await server.resume();
      await expect(redis.get('k')).resolves.toBe('v');

      await server.kill();
      expect(await portOpen(server.port)).toBe(false);
      await server.start();
      expect(await portOpen(server.port)).toBe(true);
      const deadline = Date.now() + 5000;
      let value: string | null | undefined;
      while (Date.now() < deadline) {
        value = await redis.get('k').catch(() => undefined);
        if (value !== undefined) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(value).toBeNull();
    } finally {
      redis.disconnect();
      await server.stop();
    }
    expect(await portOpen(server.port)).toBe(false);
  });

  it('starts independent servers for a quorum', async () => {
    const servers = await startRedisServers(3);
    try {
      expect(new Set(servers.map((s) => s.port)).size).toBe(3);
      await servers[1].kill();
      expect(await portOpen(servers[0].port)).toBe(true);
      expect(await portOpen(servers[1].port)).toBe(false);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });

  it('kills every server it started when the test process exits, even without stop()', async () => {
    const script = `
      require('@swc-node/register');
      const { startRedis } = require(${JSON.stringify(require.resolve('@redis-patterns/testkit'))});
      startRedis({ faults: true }).then((s) => process.stdout.write(String(s.port), () => process.exit(3)));
    `;
    const result = spawnSync(
      process.execPath,
      ['--conditions=@redis-patterns/source', '-e', script],
      {
        encoding: 'utf8',
        env: { ...process.env, TESTKIT_QUIET: '1' },
      },
    );
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 3, stderr: '' });
    const port = Number(result.stdout.trim());
    expect(port).toBeGreaterThan(0);
    const deadline = Date.now() + 3000;
    while ((await portOpen(port)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(await portOpen(port)).toBe(false);
  });
});

describe('testkit PostgreSQL', () => {
  it('creates isolated databases and can pause the server', async () => {
    const postgres = await startPostgres({ faults: true });
    try {
      const [a, b] = [await postgres.createDatabase(), await postgres.createDatabase()];
      expect(a).not.toBe(b);
      const db = new Client({ connectionString: a, query_timeout: 500 });
      await db.connect();
      try {
        expect((await db.query('SELECT 1 AS one')).rows[0].one).toBe(1);
        if (postgres.source === 'embedded') {
          await postgres.pause();
          await expect(db.query('SELECT 1')).rejects.toThrow(/timeout/i);
          await postgres.resume();
        }
      } finally {
        await db.end().catch(() => {});
      }
    } finally {
      await postgres.stop();
    }
  }, 60000);
});

describe('startReplicas', () => {
  it('starts n apps on their own ports and stops one without the others', async () => {
    let built = 0;
    const replicas = await startReplicas(3, async (index) => {
      built += 1;
      const app = Fastify();
      app.get('/who', async () => ({ index }));
      return app;
    });
    try {
      expect(built).toBe(3);
      const answers = await Promise.all(
        [0, 1, 2, 3].map((i) => fetch(`${replicas.url(i)}/who`).then((r) => r.json())),
      );
      expect(answers).toEqual([{ index: 0 }, { index: 1 }, { index: 2 }, { index: 0 }]);
      await replicas.stop(1);
      await expect(fetch(`${replicas.urls[1]}/who`)).rejects.toThrow();
      await expect(fetch(`${replicas.urls[2]}/who`).then((r) => r.json())).resolves.toEqual({
        index: 2,
      });
    } finally {
      await replicas.close();
    }
  });

  it('gives unique prefixes and free ports', async () => {
    expect(uniquePrefix('a')).not.toBe(uniquePrefix('a'));
    expect(await freePort()).toBeGreaterThan(1024);
  });
});
