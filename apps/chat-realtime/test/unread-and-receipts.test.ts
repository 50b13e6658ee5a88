import { closeRedis, createRedis, waitForReady } from '@redis-patterns/redis-core';
import { eventually, topologiesUnderTest, uniquePrefix } from '@redis-patterns/testkit';
import { createChatKeys } from '../src/chat/chat-keys';
import { MessageStore } from '../src/chat/message-store';
import { ReadCursors } from '../src/chat/read-cursors';
import { redisOf, replicaSetFixture, type SendReply } from './chat-harness';

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
  const set = replicaSetFixture(kind, { rateLimitMax: 1000 });
  const connect = (i: number, cookie: string) => set().member(i, cookie);

  it('mark-read-2.lua: concurrent reports from three connections leave the highest, clamped', async () => {
    const { topology, redis: client } = set();
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
    await eventually('the receipt', () => expect(receipts.length).toBe(1));
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
    await eventually('the second receipt', () => expect(receipts.length).toBe(2));
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

  it("lists a user's rooms with their unread counts from the server, on another replica too", async () => {
    const [alice, bob] = await Promise.all([
      connect(0, 'sid=ok.41.alice'),
      connect(1, 'sid=ok.42.bob'),
    ]);
    await alice.join('list-a');
    await alice.join('list-b');
    await bob.join('list-b');
    for (let n = 0; n < 3; n += 1) await bob.send('list-b', `b${n}`);
    // Alice's other browser, on the other replica, has joined nothing itself: the list is the
    // server's, newest join first.
    const elsewhere = await connect(1, 'sid=ok.41.alice');
    expect(await elsewhere.request<Unread>('rooms', {})).toEqual({
      rooms: [
        { room: 'list-b', offset: 3, read: 0, unread: 3 },
        { room: 'list-a', offset: 0, read: 0, unread: 0 },
      ],
    });
    expect(await alice.request('read', { room: 'list-b', offset: 2 })).toEqual({ read: 2 });
    expect(await elsewhere.request<Unread>('rooms', {})).toMatchObject({
      rooms: [
        { room: 'list-b', unread: 1 },
        { room: 'list-a', unread: 0 },
      ],
    });
    // Each user has a list of their own; joining a room again puts it on top.
    expect(await bob.request<Unread>('rooms', {})).toEqual({
      rooms: [{ room: 'list-b', offset: 3, read: 0, unread: 3 }],
    });
    await elsewhere.join('list-a');
    const again = await alice.request<Unread>('rooms', {});
    expect(again.rooms.map((r) => r.room)).toEqual(['list-a', 'list-b']);
    // Someone who never joined a room has an empty list.
    const newcomer = await connect(0, 'sid=ok.43.newcomer');
    expect(await newcomer.request('rooms', {})).toEqual({ rooms: [] });
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
    await eventually('both delivery receipts', () => expect(receipts.length).toBe(2));
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
    await eventually('the third receipt', () => expect(receipts.length).toBe(3));
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
