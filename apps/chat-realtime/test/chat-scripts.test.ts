import {
  ReplicaAckError,
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import {
  delay,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  type RedisTopology,
} from '@redis-patterns/testkit';
import { createChatKeys } from '../src/chat/chat-keys';
import { readRoom } from '../src/chat/chat-scripts';
import { MessageStore } from '../src/chat/message-store';
import { PresenceStore, presenceMember } from '../src/chat/presence';
import { UserLimits } from '../src/chat/user-limits';
import { redisOf, replicasOf } from './chat-harness';

describe.each(topologiesUnderTest())('chat Lua scripts on %s', (kind) => {
  let topology: RedisTopology;
  let client: RedisClient;

  beforeAll(async () => {
    topology = await startTopology(kind);
    client = createRedis(redisOf(topology));
    await waitForReady(client, 5000);
  }, 60000);
  afterAll(async () => {
    if (client) await closeRedis(client);
    await topology?.stop();
  });

  const ada = { id: 'user:1', username: 'Ada' };

  describe('append-message-2', () => {
    it('stores one entry for 50 concurrent sends of one clientMsgId, and answers all with its id', async () => {
      const keys = createChatKeys(uniquePrefix('chat'));
      const store = new MessageStore(client, keys, {
        maxLen: 1000,
        dedupeTtlSeconds: 60,
        resyncMarginMs: 0,
      });
      const results = await Promise.all(
        Array.from({ length: 50 }, () => store.append('race', ada, 'once', 'c-1')),
      );
      const ids = new Set(results.map((r) => r.message.id));
      expect(ids.size).toBe(1);
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(await client.xlen(keys.messages('race'))).toBe(1);
      // The same clientMsgId from another user, or in another room, is another message.
      const bob = await store.append('race', { id: 'user:2', username: 'Bob' }, 'x', 'c-1');
      const elsewhere = await store.append('other', ada, 'x', 'c-1');
      expect(bob.duplicate || elsewhere.duplicate).toBe(false);
    });

    it('forgets a clientMsgId after the dedupe lifetime, and caps the stream', async () => {
      const keys = createChatKeys(uniquePrefix('chat'));
      const store = new MessageStore(client, keys, {
        maxLen: 100,
        dedupeTtlSeconds: 1,
        resyncMarginMs: 0,
      });
      const first = await store.append('cap', ada, 'a', 'again');
      await delay(1100);
      const second = await store.append('cap', ada, 'a', 'again');
      expect(second.duplicate).toBe(false);
      expect(second.message.id).not.toBe(first.message.id);
      for (let n = 0; n < 400; n += 1) await store.append('cap', ada, `n${n}`, `cap-${n}`);
      // MAXLEN ~ trims whole radix-tree nodes: bounded near the cap, never the 402 appended.
      expect(await client.xlen(keys.messages('cap'))).toBeLessThan(250);
      const page = await store.latest('cap', 3);
      expect(page.map((m) => m.text)).toEqual(['n397', 'n398', 'n399']);
      const after = await store.after('cap', page[0].id, 10);
      expect(after).toEqual({ messages: page.slice(1), truncated: false });
      const truncated = await store.after('cap', page[0].id, 1);
      expect(truncated).toEqual({ messages: page.slice(2), truncated: true });
    });

    it('acknowledges a resend only once a replica holds the message it points to', async () => {
      if (!topology.hasReplicas) return;
      const keys = createChatKeys(uniquePrefix('chat'));
      const options = { maxLen: 1000, dedupeTtlSeconds: 60, resyncMarginMs: 0 };
      const store = new MessageStore(client, keys, options);
      // The resend comes over another connection (the user reconnected to another replica),
      // which has written nothing yet: a resend that wrote nothing would let WAIT count that
      // connection's offset and acknowledge a message no replica holds.
      const other = createRedis(redisOf(topology));
      try {
        await waitForReady(other, 5000);
        const otherStore = new MessageStore(other, keys, options);
        await other.get(keys.messages('acked'));
        const replicas = await replicasOf(topology, keys.messages('acked'));
        await Promise.all(replicas.map((server) => server.pause()));
        let first: unknown;
        let resend: unknown;
        try {
          first = await store.append('acked', ada, 'on the master', 'a-1').catch((e) => e);
          resend = await otherStore.append('acked', ada, 'on the master', 'a-1').catch((e) => e);
        } finally {
          await Promise.all(replicas.map((server) => server.resume()));
        }
        expect(first).toBeInstanceOf(ReplicaAckError);
        expect(resend).toBeInstanceOf(ReplicaAckError);
        const settled = await otherStore.append('acked', ada, 'on the master', 'a-1');
        expect(settled.duplicate).toBe(true);
        expect(await client.xlen(keys.messages('acked'))).toBe(1);
      } finally {
        await closeRedis(other);
      }
    });
  });

  describe('presence-update-1', () => {
    it('drops an entry that is not refreshed within its lifetime, and the key with the last one', async () => {
      const keys = createChatKeys(uniquePrefix('chat'));
      const presence = new PresenceStore(client, keys, 1000);
      const bob = { id: 'guest:b', username: 'Bob' };
      expect(await presence.update('p', [presenceMember('r1', ada)])).toEqual([ada]);
      expect(await presence.update('p', [presenceMember('r2', bob)])).toEqual([ada, bob]);
      await delay(500);
      expect(await presence.update('p', [presenceMember('r2', bob)])).toEqual([ada, bob]);
      await delay(600);
      // Ada's replica stopped refreshing: gone after 1 s; Bob's was refreshed 0.6 s ago.
      expect(await presence.update('p', [])).toEqual([bob]);
      expect(await presence.update('p', [], [presenceMember('r2', bob)])).toEqual([]);
      await presence.update('q', [presenceMember('r1', ada)]);
      await delay(1100);
      expect(await client.exists(keys.presence('q'))).toBe(0);
    });

    it('keeps a user present while any replica still holds a tab of theirs', async () => {
      const keys = createChatKeys(uniquePrefix('chat'));
      const presence = new PresenceStore(client, keys, 5000);
      await presence.update('t', [presenceMember('r1', ada), presenceMember('r2', ada)]);
      expect(await presence.update('t', [], [presenceMember('r1', ada)])).toEqual([ada]);
      expect(await presence.update('t', [], [presenceMember('r2', ada)])).toEqual([]);
    });
  });

  describe('room numbering', () => {
    const store = (prefix: string, maxLen = 1000) =>
      new MessageStore(client, createChatKeys(prefix), {
        maxLen,
        dedupeTtlSeconds: 60,
        resyncMarginMs: 0,
      });

    it('append-message-4.lua: offsets are gapless under 50 concurrent senders', async () => {
      const messages = store(uniquePrefix('chat'));
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, n) => messages.append('num', ada, `m${n}`, `c-${n}`)),
      );
      const offsets = results.map((r) => r.message.offset).sort((a, b) => a - b);
      expect(offsets).toEqual(Array.from({ length: 50 }, (_, n) => n + 1));
      expect(new Set(results.map((r) => r.epoch)).size).toBe(1);
      // Stream order is offset order; a resend answers the first offset and takes none.
      const read = await messages.read('num', undefined, 1000, 100);
      expect(read.messages.map((m) => m.offset)).toEqual(offsets);
      const again = await messages.append('num', ada, 'm7', 'c-7');
      expect(again).toMatchObject({
        duplicate: true,
        message: { offset: results[7].message.offset },
      });
      expect((await messages.read('num', undefined, 1000, 100)).offset).toBe(50);
    });

    it('read-room-3.lua: recovers every missed message or says recovered false', async () => {
      const prefix = uniquePrefix('chat');
      const messages = store(prefix, 100);
      // A join before the first message already fixes the epoch the messages are numbered in.
      const empty = await messages.read('rec', undefined, 50, 10);
      expect(empty).toMatchObject({ offset: 0, recovered: false, messages: [] });
      for (let n = 0; n < 30; n += 1) await messages.append('rec', ada, `m${n + 1}`, `c-${n}`);
      const { epoch } = empty;
      const from = (offset: number, e = epoch) =>
        messages.read('rec', { epoch: e, offset }, 50, 10);

      const missed = await from(12);
      expect(missed.recovered).toBe(true);
      expect(missed.messages.map((m) => m.offset)).toEqual(
        Array.from({ length: 18 }, (_, n) => n + 13),
      );
      expect(await from(30)).toMatchObject({ recovered: true, messages: [], offset: 30 });
      const fresh = await from(0);
      expect(fresh.recovered).toBe(true);
      expect(fresh.messages).toHaveLength(30);
      // Never a partial answer: another epoch, an offset the room never reached, too many.
      for (const read of [await from(12, 'other'), await from(31)]) {
        expect(read.recovered).toBe(false);
        expect(read.messages.map((m) => m.offset)).toEqual(
          Array.from({ length: 10 }, (_, n) => n + 21),
        );
      }
      expect((await messages.read('rec', { epoch, offset: 12 }, 17, 10)).recovered).toBe(false);
      // The script's own reason for each answer above, through the one typed definition.
      const keys = createChatKeys(prefix);
      const why = async (clientEpoch: string, offset: number, recoveryLimit = 50) =>
        (
          await readRoom.run(
            client,
            [keys.messages('rec'), keys.offset('rec'), keys.epoch('rec')],
            ['unused', clientEpoch, offset, recoveryLimit, 10, '1'],
          )
        )[4];
      expect(
        await Promise.all([
          why(epoch, 12),
          why('', 0),
          why('other', 12),
          why(epoch, 31),
          why(epoch, 12, 17),
        ]),
      ).toEqual(['ok', 'fresh', 'epoch', 'ahead', 'many']);
      // Trimmed by the stream cap: the oldest are gone, so recovering from before them fails.
      for (let n = 30; n < 400; n += 1) await messages.append('rec', ada, `m${n + 1}`, `c-${n}`);
      const length = await client.xlen(createChatKeys(prefix).messages('rec'));
      expect(length).toBeLessThan(400);
      expect((await messages.read('rec', { epoch, offset: 5 }, 1000, 10)).recovered).toBe(false);
      expect((await messages.read('rec', { epoch, offset: 395 }, 1000, 10)).recovered).toBe(true);
    });

    it('renews the epoch only when the numbering is lost', async () => {
      const prefix = uniquePrefix('chat');
      const keys = createChatKeys(prefix);
      const messages = store(prefix);
      const first = await messages.append('wipe', ada, 'one', 'c-1');
      expect((await messages.read('wipe', undefined, 10, 10)).epoch).toBe(first.epoch);
      // Redis restarted empty, as far as this room goes.
      await Promise.all(
        [keys.messages('wipe'), keys.offset('wipe'), keys.epoch('wipe')].map((k) => client.del(k)),
      );
      const after = await messages.read('wipe', { epoch: first.epoch, offset: 1 }, 10, 10);
      expect(after.recovered).toBe(false);
      expect(after.epoch).not.toBe(first.epoch);
      const next = await messages.append('wipe', ada, 'two', 'c-2');
      expect(next).toMatchObject({ epoch: after.epoch, message: { offset: 1 } });
    });
  });

  describe('user limits', () => {
    it('user-rate-1.lua: 60 concurrent takes of one user over 3 connections take exactly max', async () => {
      const keys = createChatKeys(uniquePrefix('chat'));
      const others = [createRedis(redisOf(topology)), createRedis(redisOf(topology))];
      try {
        await Promise.all(others.map((c) => waitForReady(c, 5000)));
        const connections = [client, ...others];
        const options = { messageMax: 7, messageWindowMs: 1500, roomsPerUser: 1, roomTtlMs: 1000 };
        const results = await Promise.all(
          Array.from({ length: 60 }, (_, n) =>
            new UserLimits(connections[n % 3], keys, options).takeMessage('user:1'),
          ),
        );
        expect(results.filter((wait) => wait === 0)).toHaveLength(7);
        for (const wait of results.filter((w) => w > 0)) expect(wait).toBeLessThanOrEqual(1500);
        // Another user has a budget of their own; the window slides.
        const limits = new UserLimits(client, keys, options);
        expect(await limits.takeMessage('user:2')).toBe(0);
        await delay(1600);
        expect(await limits.takeMessage('user:1')).toBe(0);
      } finally {
        await Promise.all(others.map((c) => closeRedis(c)));
      }
    });

    it('user-rooms-1.lua: concurrent joins of one user across replicas stop at the cap', async () => {
      const keys = createChatKeys(uniquePrefix('chat'));
      const limits = new UserLimits(client, keys, {
        messageMax: 1,
        messageWindowMs: 1000,
        roomsPerUser: 5,
        roomTtlMs: 1000,
      });
      const admitted = await Promise.all(
        Array.from({ length: 30 }, (_, n) => limits.admitRoom('user:1', `r${n}`)),
      );
      expect(admitted.filter(Boolean)).toHaveLength(5);
      const held = admitted.flatMap((ok, n) => (ok ? [`r${n}`] : []));
      // A room already held is admitted again; a sixth is not; leaving frees one.
      expect(await limits.admitRoom('user:1', held[0])).toBe(true);
      expect(await limits.admitRoom('user:1', 'extra')).toBe(false);
      await limits.leaveRoom('user:1', held[0]);
      expect(await limits.admitRoom('user:1', 'extra')).toBe(true);
      // Refreshed entries keep counting; entries nobody refreshes expire.
      await delay(600);
      await limits.refreshRooms('user:1', ['extra']);
      await delay(600);
      await limits.refreshRooms('user:1', []);
      expect(await client.zrange(keys.userRooms('user:1'), 0, -1)).toEqual(['extra']);
      expect(await limits.admitRoom('user:1', 'again')).toBe(true);
    });
  });
});
