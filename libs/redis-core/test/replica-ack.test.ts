import { join } from 'node:path';
import {
  closeRedis,
  createRedis,
  isRedisUnavailable,
  LuaScript,
  ReplicaAckError,
  replicaAckPolicyOf,
  writeAcknowledged,
  awaitReplicas,
  type RedisClient,
} from '@redis-patterns/redis-core';
import {
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  type RedisTopology,
} from '@redis-patterns/testkit';

const moveStock = LuaScript.fromFile<[string, string], [number], [number, number] | -1>(
  join(__dirname, 'fixtures', 'move-stock-2.lua'),
);

describe.each(topologiesUnderTest())('replica acknowledgements on %s', (kind) => {
  let topology: RedisTopology;
  let client: RedisClient;

  beforeAll(async () => {
    topology = await startTopology(kind);
    // Every replica in sync first: the first test's WAIT would otherwise time a link still syncing.
    await topology.converged();
    client = createRedis({ ...topology.config, commandTimeoutMs: 1000 });
    await new Promise((resolve) => client.once('ready', resolve));
  }, 60_000);

  afterAll(async () => {
    if (client) await closeRedis(client);
    await topology?.stop();
  });

  it('waits for one replica on Sentinel and Cluster, none on standalone', async () => {
    expect(replicaAckPolicyOf(client)).toEqual({
      replicas: topology.hasReplicas ? 1 : 0,
      timeoutMs: 800,
    });
    const prefix = uniquePrefix('ack');
    const [reply] = await writeAcknowledged(client, (p) => p.set(`{${prefix}}a`, 'v'));
    expect(reply).toBe('OK');
    await moveStock.run(client, [`{${prefix}}s`, `{${prefix}}d`], [0]).catch(() => undefined);
    await client.set(`{${prefix}}s`, 5);
    await expect(
      moveStock.runAcknowledged(client, [`{${prefix}}s`, `{${prefix}}d`], [2]),
    ).resolves.toEqual([3, 2]);
    await client.set(`{${prefix}}b`, 1);
    await expect(awaitReplicas(client, `{${prefix}}b`)).resolves.toBeUndefined();
  });

  it('answers ReplicaAckError within the ack timeout when no replica takes the write', async () => {
    if (!topology.hasReplicas) return;
    const key = `{${uniquePrefix('lag')}}k`;
    const master = await topology.master(key);
    const replicas = topology.servers.filter((server) => server !== master);
    // Pausing every replica of the key's master: the write lands, no replica can confirm it.
    await Promise.all(replicas.map((server) => server.pause()));
    try {
      const started = Date.now();
      const error = await writeAcknowledged(client, (p) => p.set(key, 'v')).catch((e) => e);
      expect(error).toBeInstanceOf(ReplicaAckError);
      // The error itself in the failure message: one not known as an outage must be named.
      expect(isRedisUnavailable(error) ? 'an outage' : String(error)).toBe('an outage');
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await Promise.all(replicas.map((server) => server.resume()));
    }
  });

  it.each(['failover', 'killMaster', 'partitionMaster'] as const)(
    'loses no acknowledged write across %s, and fails the rest honestly',
    async (fault) => {
      if (!topology.hasReplicas) return;
      const prefix = uniquePrefix('fo');
      const key = (i: number) => `{${prefix}}${i}`;
      const acknowledged: number[] = [];
      let failed = 0;
      let running = true;
      const writer = (async () => {
        for (let i = 0; running; i += 1) {
          try {
            await writeAcknowledged(client, (p) => p.set(key(i), i));
            acknowledged.push(i);
          } catch (error) {
            // The error itself in the failure message: one not known as an outage must be named.
            expect(isRedisUnavailable(error) ? 'an outage' : String(error)).toBe('an outage');
            failed += 1;
            await new Promise((r) => setTimeout(r, 20));
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      if (fault === 'failover') await topology.failover(key(0));
      if (fault === 'killMaster') await (await topology.killMaster(key(0))).restart();
      if (fault === 'partitionMaster') await (await topology.partitionMaster(key(0))).heal();
      await new Promise((r) => setTimeout(r, 1500));
      await topology.converged();
      running = false;
      await writer;
      const values = await Promise.all(acknowledged.map((i) => client.get(key(i))));
      const lost = acknowledged.filter((i, at) => values[at] !== String(i));
      process.stderr.write(
        `[replica-ack] ${kind} ${fault}: ${acknowledged.length} acknowledged, ${failed} failed, ${lost.length} lost\n`,
      );
      expect(lost).toEqual([]);
      expect(acknowledged.length).toBeGreaterThan(50);
    },
    60_000,
  );
});
