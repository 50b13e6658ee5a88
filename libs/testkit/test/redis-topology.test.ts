import { Cluster, Redis } from 'ioredis';
import { keySlot, startTopology, type RedisTopology } from '@redis-patterns/testkit';

function clientOf(topology: RedisTopology): Redis | Cluster {
  const base = { commandTimeout: 500, maxRetriesPerRequest: 1 };
  if (topology.config.clusterNodes) {
    return new Cluster(topology.config.clusterNodes, {
      slotsRefreshInterval: 500,
      redisOptions: base,
    });
  }
  if (topology.config.sentinels) {
    return new Redis({
      ...base,
      sentinels: topology.config.sentinels,
      name: topology.config.sentinelMaster,
      failoverDetector: true,
    });
  }
  return new Redis(topology.config.url ?? '', base);
}

async function eventually<T>(what: string, fn: () => Promise<T>, ms = 15000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('keySlot', () => {
  it('matches the Cluster specification, hash tags included', () => {
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'));
  });
});

describe.each(['sentinel', 'cluster'] as const)('%s topology', (kind) => {
  let topology: RedisTopology;
  let client: Redis | Cluster;

  beforeAll(async () => {
    topology = await startTopology(kind);
    client = clientOf(topology);
  }, 60_000);

  afterAll(async () => {
    client?.disconnect();
    await topology?.stop();
  });

  it('replicates, fails over on command, and keeps writes that a replica acknowledged', async () => {
    expect(topology.hasReplicas).toBe(true);
    await eventually('first write', () => client.set('{k}1', 'before'));
    const master = await topology.master('{k}1');
    const result = await topology.failover('{k}1');
    expect(result.oldMaster).toBe(master);
    expect(result.newMaster).not.toBe(master);
    expect(await topology.master('{k}1')).toBe(result.newMaster);
    await eventually('read after failover', async () => {
      expect(await client.get('{k}1')).toBe('before');
    });
  }, 60_000);

  it('promotes a replica when the master is SIGKILLed, and takes it back as a replica', async () => {
    const killed = await topology.killMaster('{k}2');
    expect(killed.promotedMs).toBeLessThan(15000);
    await eventually('write after crash failover', () => client.set('{k}2', 'after'));
    await killed.restart();
    expect(await eventually('read', () => client.get('{k}2'))).toBe('after');
  }, 60_000);

  it('promotes a replica while the old master is paused, which then rejoins as a replica', async () => {
    const cut = await topology.partitionMaster('{k}3');
    await eventually('write while the old master is cut off', () => client.set('{k}3', 'x'));
    await cut.heal();
    expect(await topology.master('{k}3')).toBe(cut.newMaster);
  }, 60_000);
});
