import pino from 'pino';
import {
  ackConnections,
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import { topologiesUnderTest, uniquePrefix, until } from '@redis-patterns/testkit';
import { cacheKeys, type CacheKeys } from '../src/cache/cache-keys';
import { EvictionChannel } from '../src/cache/eviction-channel';
import {
  killConnections,
  type RedisServers,
  startRedisServers,
  subscriberConnections,
} from './cache-harness';

const HEARTBEAT_MS = 200;
const MEMBER_TTL_MS = 1000;
const ACK_TIMEOUT_MS = 1500;

/** One replica's side of the channel, with what its listeners were told. */
interface Member {
  name: string;
  channel: EvictionChannel;
  publisher: RedisClient;
  subscriber: RedisClient;
  /** Every eviction handed to the L1 tier / lookups; `null` = everything. */
  evicted: Array<string[] | null>;
}

describe.each(topologiesUnderTest())('the eviction registry on %s', (kind) => {
  let servers: RedisServers;
  let keys: CacheKeys;
  const members: Member[] = [];
  const log = pino({ level: 'silent' });

  beforeAll(async () => {
    servers = await startRedisServers(kind);
    keys = cacheKeys(uniquePrefix('reg'));
  });
  afterAll(async () => {
    for (const member of members) {
      await member.channel.close();
      // Those revived by hand below are no longer closed with their client.
      for (const connection of ackConnections(member.publisher))
        if (connection !== member.publisher) connection.disconnect();
      await closeRedis(member.publisher);
    }
    await servers?.stop();
  });

  async function join(name: string): Promise<Member> {
    const connection = (role: string) =>
      createRedis({ ...servers.redis, connectionName: `${keys.prefix}:${name}:${role}` });
    const publisher = connection('pub');
    const subscriber = connection('sub');
    for (const client of [publisher, subscriber]) client.on('error', () => {});
    await waitForReady(publisher, 10_000);
    const channel = new EvictionChannel({
      subscriber,
      publisher,
      keys,
      ackTimeoutMs: ACK_TIMEOUT_MS,
      heartbeatMs: HEARTBEAT_MS,
      memberTtlMs: MEMBER_TTL_MS,
      log,
    });
    const member: Member = { name, channel, publisher, subscriber, evicted: [] };
    channel.onEvict((groups) => member.evicted.push(groups));
    await channel.start(10_000);
    expect(channel.live).toBe(true);
    members.push(member);
    return member;
  }

  const registered = () => servers.client.zrange(keys.members, 0, -1);
  const redisNowMs = async () => {
    const [seconds, micros] = await servers.client.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  };
  const liveAgain = (member: Member, oldId: string) =>
    until(
      `${member.name} registered again under a new id`,
      async () =>
        member.channel.live && member.channel.memberId !== oldId
          ? member.channel.memberId
          : undefined,
      10_000,
    );

  it('a publish is confirmed only once every other registered member has evicted', async () => {
    const [a, b, c] = [await join('a'), await join('b'), await join('c')];
    expect((await registered()).sort()).toEqual([a, b, c].map((m) => m.channel.memberId).sort());
    for (let i = 0; i < 20; i += 1) {
      const group = `p-${i}`;
      await expect(a.channel.publish([group])).resolves.toEqual({ confirmed: true });
      // At the moment the writer is told, the others have already dropped the group.
      expect(b.evicted).toContainEqual([group]);
      expect(c.evicted).toContainEqual([group]);
    }
  });

  it('waits for a registered member that never acknowledges, then reports it', async () => {
    const [a] = members;
    const ghost = 'ghost.1';
    await servers.client.zadd(keys.members, (await redisNowMs()) + 60_000, ghost);
    try {
      const started = performance.now();
      await expect(a.channel.publish(['p-ghost'])).resolves.toEqual({
        confirmed: false,
        unconfirmed: [ghost],
      });
      expect(performance.now() - started).toBeGreaterThanOrEqual(ACK_TIMEOUT_MS - 10);
    } finally {
      await servers.client.zrem(keys.members, ghost);
    }
  });

  it('stops waiting for a member as soon as its registration lapses (a crashed replica)', async () => {
    const [a] = members;
    const lapsing = 'crashed.1';
    await servers.client.zadd(keys.members, (await redisNowMs()) + 400, lapsing);
    const started = performance.now();
    await expect(a.channel.publish(['p-crashed'])).resolves.toEqual({ confirmed: true });
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(300);
    expect(waited).toBeLessThan(ACK_TIMEOUT_MS);
  });

  it('a member whose subscriber reconnects empties its L1 and registers again under a new id', async () => {
    const [a, b] = members;
    const oldId = b.channel.memberId;
    const before = b.evicted.length;
    const subscribed = await subscriberConnections(servers, `${keys.prefix}:b:sub`);
    expect(subscribed).toHaveLength(1);
    await killConnections(subscribed);
    // Published while b's subscription is being rebuilt: b may never see it, and must not
    // make the writer wait in vain.
    const published = await a.channel.publish(['p-during-reconnect']);
    expect(published).toEqual({ confirmed: true });
    if (!b.evicted.slice(before).some((groups) => groups?.includes('p-during-reconnect'))) {
      // b missed it: it must have forgotten everything and left under its old id.
      expect(b.channel.memberId).not.toBe(oldId);
    }
    const newId = await liveAgain(b, oldId);
    expect(b.evicted.slice(before)).toContainEqual(null);
    await until(
      'the old id gone from the registry',
      async () => ((await registered()).includes(oldId) ? undefined : true),
      5000,
    );
    expect(await registered()).toContain(newId);
    await expect(a.channel.publish(['p-after-reconnect'])).resolves.toEqual({ confirmed: true });
    expect(b.evicted).toContainEqual(['p-after-reconnect']);
  });

  it('a member whose heartbeat fails stops serving L1 until it is registered again', async () => {
    const [a, , c] = members;
    const oldId = c.channel.memberId;
    const before = c.evicted.length;
    c.publisher.disconnect();
    // Not live (so no L1 served) as soon as the heartbeat fails or its deadline passes; the
    // tier is emptied when the failure is seen (a command that hangs fails at its timeout).
    await until('c no longer live', async () => (c.channel.live ? undefined : true), 5000);
    await until(
      'c emptied its L1 tier',
      async () => (c.evicted.slice(before).includes(null) ? true : undefined),
      5000,
    );
    // The writer does not wait for c: it left (or its registration lapses within the TTL).
    await expect(a.channel.publish(['p-while-c-away'])).resolves.toEqual({ confirmed: true });
    // redis-core closes a client's ack connections with it and does not revive them after a
    // manual disconnect + connect (a test's doing, never the service's): bring them back first.
    await Promise.all(
      ackConnections(c.publisher)
        .filter((connection) => connection !== c.publisher)
        .map((connection) => connection.connect().catch(() => {})),
    );
    await c.publisher.connect().catch(() => {});
    await liveAgain(c, oldId);
    await expect(a.channel.publish(['p-c-back'])).resolves.toEqual({ confirmed: true });
    expect(c.evicted).toContainEqual(['p-c-back']);
  });

  it('a member that sees the numbering skip (a missed message) forgets everything and re-registers', async () => {
    const [a, b] = members;
    const oldId = b.channel.memberId;
    const before = b.evicted.length;
    // A number nobody published: to every subscriber it looks like a lost message.
    await servers.client.incr(keys.seq);
    await liveAgain(b, oldId);
    expect(b.evicted.slice(before)).toContainEqual(null);
    await expect(a.channel.publish(['p-after-gap'])).resolves.toEqual({ confirmed: true });
    expect(b.evicted).toContainEqual(['p-after-gap']);
  });

  it('a member that closes leaves the registry at once', async () => {
    const c = members[2];
    const id = c.channel.memberId;
    await c.channel.close();
    expect(await registered()).not.toContain(id);
    const started = performance.now();
    await expect(members[0].channel.publish(['p-after-close'])).resolves.toEqual({
      confirmed: true,
    });
    expect(performance.now() - started).toBeLessThan(300);
  });
});
