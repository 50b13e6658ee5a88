import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import { startRedis, uniquePrefix, type RedisServer } from '@redis-patterns/testkit';
import { createChatKeys } from '../src/chat/chat-keys';
import { MessageStore } from '../src/chat/message-store';
import { PresenceStore, presenceMember } from '../src/chat/presence';
import { sleep } from './chat-harness';

describe('chat Lua scripts against a real Redis', () => {
  let redis: RedisServer;
  let client: RedisClient;

  beforeAll(async () => {
    redis = await startRedis();
    client = createRedis({ url: redis.url });
    await waitForReady(client, 5000);
  });
  afterAll(async () => {
    await closeRedis(client);
    await redis.stop();
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
      await sleep(1100);
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
  });

  describe('presence-update-1', () => {
    it('drops an entry that is not refreshed within its lifetime, and the key with the last one', async () => {
      const keys = createChatKeys(uniquePrefix('chat'));
      const presence = new PresenceStore(client, keys, 1000);
      const bob = { id: 'guest:b', username: 'Bob' };
      expect(await presence.update('p', [presenceMember('r1', ada)])).toEqual([ada]);
      expect(await presence.update('p', [presenceMember('r2', bob)])).toEqual([ada, bob]);
      await sleep(500);
      expect(await presence.update('p', [presenceMember('r2', bob)])).toEqual([ada, bob]);
      await sleep(600);
      // Ada's replica stopped refreshing: gone after 1 s; Bob's was refreshed 0.6 s ago.
      expect(await presence.update('p', [])).toEqual([bob]);
      expect(await presence.update('p', [], [presenceMember('r2', bob)])).toEqual([]);
      await presence.update('q', [presenceMember('r1', ada)]);
      await sleep(1100);
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
});
