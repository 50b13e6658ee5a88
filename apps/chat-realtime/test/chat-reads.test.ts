import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import {
  startReplicas,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  type RedisTopology,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { createChatKeys } from '../src/chat/chat-keys';
import { MessageStore } from '../src/chat/message-store';
import { ReadCursors } from '../src/chat/read-cursors';
import {
  ChatClient,
  redisOf,
  startFakeAuth,
  testConfig,
  waitFor,
  type FakeAuth,
  type SendReply,
} from './chat-harness';

jest.setTimeout(30000);

interface Receipt {
  room: string;
  user: { id: string; username: string };
  offset: number;
}
interface Unread {
  rooms: Array<{ room: string; offset: number; read: number; unread: number }>;
}

describe.each(topologiesUnderTest())('read cursors, unread counts and receipts on %s', (kind) => {
  let topology: RedisTopology;
  let auth: FakeAuth;
  let replicas: Replicas<ServiceInstance>;
  let client: RedisClient;
  const prefix = uniquePrefix('chat');
  const clients: ChatClient[] = [];

  async function connect(i: number, cookie: string): Promise<ChatClient> {
    const c = new ChatClient([replicas.url(i)], { cookie, reconnect: false });
    clients.push(c);
    return c.connect();
  }

  beforeAll(async () => {
    topology = await startTopology(kind);
    auth = await startFakeAuth();
    client = createRedis(redisOf(topology));
    await waitForReady(client, 5000);
    replicas = await startReplicas(3, () =>
      buildApp(testConfig(redisOf(topology), prefix, { authUrl: auth.url, rateLimitMax: 1000 })),
    );
  }, 60000);
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await replicas?.close();
    if (client) await closeRedis(client);
    await auth?.close();
    await topology?.stop();
  });

  it('mark-read-2.lua: concurrent reports from three connections leave the highest, clamped', async () => {
    const keys = createChatKeys(uniquePrefix('chat'));
    const store = new MessageStore(client, keys, {
      maxLen: 1000,
      dedupeTtlSeconds: 60,
      resyncMarginMs: 0,
    });
    for (let n = 0; n < 20; n += 1) {
      await store.append('r', { id: 'user:1', username: 'a' }, `m${n}`, `c${n}`);
    }
    const others = [createRedis(redisOf(topology)), createRedis(redisOf(topology))];
    try {
      await Promise.all(others.map((c) => waitForReady(c, 5000)));
      const connections = [client, ...others];
      const offsets = [3, 17, 9, 12, 1, 16, 5, 14, 2, 8];
      await Promise.all(
        offsets.map((offset, n) =>
          new ReadCursors(connections[n % 3], keys).mark('r', 'user:2', offset),
        ),
      );
      const cursors = new ReadCursors(client, keys);
      expect(await cursors.of('r', ['user:2', 'user:3'])).toEqual({ 'user:2': 17, 'user:3': 0 });
      expect(await cursors.mark('r', 'user:2', 4)).toEqual({ read: 17, moved: false });
      expect(await cursors.mark('r', 'user:2', 999)).toEqual({ read: 20, moved: true });
    } finally {
      await Promise.all(others.map((c) => closeRedis(c)));
    }
  });

  it('counts unread per user and room, and tells the sender who read how far, across replicas', async () => {
    const [sender, reader, readerTab] = await Promise.all([
      connect(0, 'sid=ok.21.sender'),
      connect(1, 'sid=ok.22.reader'),
      connect(2, 'sid=ok.22.reader'),
    ]);
    await Promise.all([sender.join('news'), reader.join('news'), readerTab.join('news')]);
    await sender.join('quiet');
    const receipts: Receipt[] = [];
    sender.socket.on('read', (receipt: Receipt) => receipts.push(receipt));

    const acks: SendReply[] = [];
    for (let n = 0; n < 3; n += 1) acks.push((await sender.send('news', `n${n}`)) as SendReply);
    expect(await reader.request<Unread>('unread', { rooms: ['news', 'quiet'] })).toEqual({
      rooms: [
        { room: 'news', offset: 3, read: 0, unread: 3 },
        { room: 'quiet', offset: 0, read: 0, unread: 0 },
      ],
    });

    expect(await reader.request('read', { room: 'news', offset: 2 })).toEqual({ read: 2 });
    await waitFor('the receipt', () => receipts.length === 1);
    expect(receipts[0]).toEqual({
      room: 'news',
      user: { id: 'user:22', username: 'reader' },
      offset: 2,
    });
    // The user's other tab, on another replica, sees the same count; a cursor never goes back.
    expect(await readerTab.request<Unread>('unread', { rooms: ['news'] })).toMatchObject({
      rooms: [{ unread: 1 }],
    });
    expect(await readerTab.request('read', { room: 'news', offset: 1 })).toEqual({ read: 2 });
    expect(await readerTab.request('read', { room: 'news', offset: 50 })).toEqual({ read: 3 });
    await waitFor('the second receipt', () => receipts.length === 2);
    expect(receipts[1].offset).toBe(3);

    // Someone who joins later sees how far the members present have read.
    const late = await connect(0, 'sid=ok.23.late');
    const joined = (await late.join('news')) as unknown as { reads: Record<string, number> };
    expect(joined.reads).toMatchObject({ 'user:22': 3, 'user:21': 0, 'user:23': 0 });

    for (const [payload, code] of [
      [{ room: 'news', offset: -1 }, 'INVALID_OFFSET'],
      [{ room: 'news', offset: '2' }, 'INVALID_OFFSET'],
      [{ room: 'elsewhere', offset: 1 }, 'NOT_IN_ROOM'],
    ] as const) {
      expect(await reader.request('read', payload)).toMatchObject({ error: { code } });
    }
    expect(await reader.request('unread', { rooms: [] })).toMatchObject({
      error: { code: 'INVALID_PAYLOAD' },
    });
    expect(await reader.request('unread', { rooms: ['Bad Room'] })).toMatchObject({
      error: { code: 'INVALID_ROOM' },
    });
  });

  it('tells the sender how many members each message was delivered to, across replicas', async () => {
    const [sender, member, other] = await Promise.all([
      connect(0, 'sid=ok.31.sender'),
      connect(1, 'sid=ok.32.member'),
      connect(2, 'sid=ok.33.other'),
    ]);
    await Promise.all([sender.join('mail'), member.join('mail'), other.join('mail')]);
    const receipts: Receipt[] = [];
    sender.socket.on('delivered', (receipt: Receipt) => receipts.push(receipt));
    for (let n = 0; n < 2; n += 1) await sender.send('mail', `d${n}`);

    expect(await member.request('delivered', { room: 'mail', offset: 2 })).toEqual({
      delivered: 2,
    });
    expect(await other.request('delivered', { room: 'mail', offset: 1 })).toEqual({
      delivered: 1,
    });
    await waitFor('both delivery receipts', () => receipts.length === 2);
    expect(receipts).toEqual(
      expect.arrayContaining([
        { room: 'mail', user: { id: 'user:32', username: 'member' }, offset: 2 },
        { room: 'mail', user: { id: 'user:33', username: 'other' }, offset: 1 },
      ]),
    );
    // Delivered is not read: the read cursor did not move.
    expect(await member.request<Unread>('unread', { rooms: ['mail'] })).toMatchObject({
      rooms: [{ read: 0, unread: 2 }],
    });
    // Like the read cursor: never back, never past the room's newest offset.
    expect(await other.request('delivered', { room: 'mail', offset: 0 })).toEqual({
      delivered: 1,
    });
    expect(await other.request('delivered', { room: 'mail', offset: 99 })).toEqual({
      delivered: 2,
    });
    await waitFor('the third receipt', () => receipts.length === 3);
    expect(receipts[2]).toMatchObject({ user: { id: 'user:33' }, offset: 2 });

    // Someone who joins later sees how far the members present were delivered to.
    const late = await connect(1, 'sid=ok.34.late');
    const joined = (await late.join('mail')) as unknown as { delivered: Record<string, number> };
    expect(joined.delivered).toMatchObject({ 'user:31': 0, 'user:32': 2, 'user:33': 2 });

    for (const [payload, code] of [
      [{ room: 'mail', offset: '1' }, 'INVALID_OFFSET'],
      [{ room: 'nowhere', offset: 1 }, 'NOT_IN_ROOM'],
    ] as const) {
      expect(await member.request('delivered', payload)).toMatchObject({ error: { code } });
    }
  });
});
