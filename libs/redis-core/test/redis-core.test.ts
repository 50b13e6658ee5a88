import { join } from 'node:path';
import Fastify from 'fastify';
import {
  closeRedis,
  createKeyBuilder,
  createRedis,
  LuaScript,
  pingRedis,
  redisPlugin,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import {
  startRedis,
  startRedisCluster,
  uniquePrefix,
  type RedisCluster,
  type RedisServer,
} from '@redis-patterns/testkit';

const moveStock = LuaScript.fromFile<[string, string], [number], [number, number] | -1>(
  join(__dirname, 'fixtures', 'move-stock-2.lua'),
);

async function exerciseScript(client: RedisClient) {
  const keys = createKeyBuilder(uniquePrefix('core'));
  const source = keys.tagged('sku1', 'stock');
  const destination = keys.tagged('sku1', 'reserved');
  await client.set(source, 10);
  await expect(moveStock.run(client, [source, destination], [4])).resolves.toEqual([6, 4]);
  await expect(moveStock.run(client, [source, destination], [7])).resolves.toBe(-1);
  // 30 concurrent moves of 1 from 6 left: exactly 6 succeed, the sum stays 10.
  const results = await Promise.all(
    Array.from({ length: 30 }, () => moveStock.run(client, [source, destination], [1])),
  );
  expect(results.filter((r) => r !== -1)).toHaveLength(6);
  expect(Number(await client.get(source)) + Number(await client.get(destination))).toBe(10);
}

describe('redis-core against a standalone server', () => {
  let server: RedisServer;
  let client: RedisClient;

  beforeAll(async () => {
    server = await startRedis({ faults: true });
    client = createRedis({ url: server.url, commandTimeoutMs: 300 });
    await waitForReady(client, 5000);
  });
  afterAll(async () => {
    await closeRedis(client);
    await server.stop();
  });

  it('runs a multi-key Lua script atomically', async () => {
    await exerciseScript(client);
  });

  it('rejects a call with the wrong number of keys', async () => {
    await expect(moveStock.run(client, ['a'] as unknown as [string, string], [1])).rejects.toThrow(
      /2 keys/,
    );
  });

  it('fails a command within the command timeout while Redis is paused, then recovers', async () => {
    await server.pause();
    try {
      const started = Date.now();
      await expect(client.get('x')).rejects.toThrow(/timed out/i);
      expect(Date.now() - started).toBeLessThan(1500);
      await expect(pingRedis(client, 300)).resolves.toBe(false);
    } finally {
      await server.resume();
    }
    await expect(client.ping()).resolves.toBe('PONG');
  });

  it('fails fast instead of queueing while Redis is down, and reconnects by itself', async () => {
    await server.kill();
    const started = Date.now();
    await expect(client.get('x')).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1000);
    await server.start();
    const deadline = Date.now() + 10000;
    while (!(await pingRedis(client, 300)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    await expect(client.ping()).resolves.toBe('PONG');
  });

  it('the plugin fails boot fast when Redis is unreachable', async () => {
    const app = Fastify();
    app.register(redisPlugin, { config: { url: 'redis://127.0.0.1:1' }, bootTimeoutMs: 500 });
    await expect(app.ready()).rejects.toThrow(/Cannot reach Redis/);
    await app.close();
  });

  it('the plugin reports health by PING in required mode and quits its client on close', async () => {
    const app = Fastify();
    app.register(redisPlugin, {
      config: { url: server.url },
      readiness: 'required',
      healthTimeoutMs: 200,
    });
    await app.ready();
    await expect(app.redisHealthy()).resolves.toBe(true);
    await server.pause();
    try {
      await expect(app.redisHealthy()).resolves.toBe(false);
    } finally {
      await server.resume();
    }
    const owned = app.redis;
    await app.close();
    expect(owned.status).toBe('end');
  });
});

describe('redis-core against a 3-master Redis Cluster', () => {
  let cluster: RedisCluster;
  let client: RedisClient;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    client = createRedis({
      clusterNodes: cluster.nodes.map((node) => ({ host: node.host, port: node.port })),
      enableOfflineQueue: true,
    });
    await client.ping();
  }, 60000);
  afterAll(async () => {
    await closeRedis(client);
    await cluster.stop();
  });

  it('runs the same hash-tagged multi-key script', async () => {
    await exerciseScript(client);
  });

  it('rejects keys of different slots with CROSSSLOT, which is why keys carry hash tags', async () => {
    await expect(moveStock.run(client, ['a:stock', 'b:reserved'], [1])).rejects.toThrow(
      /CROSSSLOT/,
    );
  });
});
