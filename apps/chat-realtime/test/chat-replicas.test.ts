import {
  startRedis,
  startReplicas,
  uniquePrefix,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import {
  ChatClient,
  sleep,
  startFakeAuth,
  testConfig,
  waitFor,
  type ErrorReply,
  type FakeAuth,
  type JoinReply,
  type SendReply,
} from './chat-harness';

interface HistoryPage {
  messages: Array<{ id: string; text: string }>;
  nextBefore: string | null;
}
const json = <T>(response: Response) => response.json() as Promise<T>;

describe('chat-realtime on three replicas', () => {
  let redis: RedisServer;
  let auth: FakeAuth;
  let replicas: Replicas<ServiceInstance>;
  const clients: ChatClient[] = [];

  async function client(i: number, name = `user${clients.length}`): Promise<ChatClient> {
    const c = new ChatClient([replicas.url(i)], { name });
    clients.push(c);
    return c.connect();
  }

  beforeAll(async () => {
    redis = await startRedis();
    auth = await startFakeAuth();
    const prefix = uniquePrefix('chat');
    replicas = await startReplicas(3, () =>
      buildApp(testConfig(redis.url, prefix, { authUrl: auth.url })),
    );
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await replicas?.close();
    await auth?.close();
    await redis?.stop();
  });

  it('delivers a message sent on server 1 exactly once to room members on servers 1, 2 and 3, and to nobody else', async () => {
    const members = await Promise.all([0, 0, 1, 2].map((i) => client(i)));
    const outsiders = await Promise.all([0, 1, 2].map((i) => client(i)));
    await Promise.all(members.map((c) => c.join('lobby')));
    await Promise.all(outsiders.map((c) => c.join('elsewhere')));
    const [sender] = members;

    const acks: SendReply[] = [];
    for (let n = 0; n < 5; n += 1)
      acks.push((await sender.send('lobby', `hello ${n}`)) as SendReply);
    const ids = acks.map((ack) => ack.id);

    await waitFor('every member to get the 5 messages', () =>
      members.every((c) => c.deliveries.length >= 5),
    );
    await sleep(300);
    for (const c of members) {
      expect(c.deliveries.map((m) => m.id)).toEqual(ids);
      expect(c.deliveries.map((m) => m.text)).toEqual([0, 1, 2, 3, 4].map((n) => `hello ${n}`));
      expect(c.deliveries[0]).toEqual({
        id: ids[0],
        room: 'lobby',
        user: sender.user,
        text: 'hello 0',
        ts: acks[0].ts,
      });
    }
    for (const c of outsiders) expect(c.deliveries).toEqual([]);

    const metrics = await fetch(`${replicas.url(2)}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/chat_connected_sockets 2/);
    // Replica 3 got the 5 messages through Redis, for its one member.
    expect(metrics).toMatch(/chat_delivery_seconds_count 5/);
  });

  it('returns the last messages on join, and what was missed after lastSeenId', async () => {
    const writer = await client(1);
    await writer.join('history');
    const ids: string[] = [];
    for (let n = 0; n < 8; n += 1)
      ids.push(((await writer.send('history', `m${n}`)) as SendReply).id);

    const reader = await client(2);
    const all = (await reader.join('history')) as JoinReply;
    expect(all.history.map((m) => m.id)).toEqual(ids);
    expect(all.presence.map((u) => u.username).sort()).toEqual(
      [writer.user?.username, reader.user?.username].sort(),
    );

    const late = await client(0);
    const missed = (await late.join('history', ids[4])) as JoinReply;
    // The resync margin re-reads a little before lastSeenId; the client drops those by id.
    expect(missed.history.map((m) => m.id)).toEqual(expect.arrayContaining(ids.slice(5)));
    expect(missed.history.at(-1)?.id).toBe(ids[7]);
  });

  it('serves history pages over HTTP', async () => {
    const writer = await client(0);
    await writer.join('pages');
    const ids: string[] = [];
    for (let n = 0; n < 5; n += 1)
      ids.push(((await writer.send('pages', `p${n}`)) as SendReply).id);

    const first = await fetch(`${replicas.url(1)}/rooms/pages/messages?limit=3`).then(
      json<HistoryPage>,
    );
    expect(first.messages.map((m) => m.id)).toEqual(ids.slice(2));
    expect(first.nextBefore).toBe(ids[2]);
    const second = await fetch(
      `${replicas.url(2)}/rooms/pages/messages?limit=3&before=${first.nextBefore}`,
    ).then(json<HistoryPage>);
    expect(second.messages.map((m) => m.text)).toEqual(['p0', 'p1']);
    expect(second.nextBefore).toBeNull();

    const bad = await fetch(`${replicas.url(0)}/rooms/Bad%20Room/messages`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      statusCode: 400,
      message: expect.stringContaining('room'),
    });
    const badLimit = await fetch(`${replicas.url(0)}/rooms/pages/messages?limit=0`);
    expect(badLimit.status).toBe(400);
    await badLimit.body?.cancel();
  });

  it('answers a resent clientMsgId with the first ack, storing and broadcasting it once', async () => {
    const sender = await client(0);
    const other = await client(1);
    await sender.join('idem');
    await other.join('idem');
    const first = (await sender.send('idem', 'only once', 'same-id')) as SendReply;
    const again = await Promise.all(
      [0, 1, 2].map(() => sender.send('idem', 'only once', 'same-id')),
    );
    for (const ack of again) expect(ack).toEqual({ id: first.id, ts: first.ts, duplicate: true });

    // A resend after reconnecting to another replica is recognised too.
    const moved = new ChatClient([replicas.url(2)], { name: 'mover', guestId: 'guest-mover-1' });
    clients.push(moved);
    await moved.connect();
    await moved.join('idem');
    const a = (await moved.send('idem', 'x', 'mover-1')) as SendReply;
    moved.close();
    const back = new ChatClient([replicas.url(1)], { name: 'mover', guestId: 'guest-mover-1' });
    clients.push(back);
    await back.connect();
    await back.join('idem');
    expect(await back.send('idem', 'x', 'mover-1')).toEqual({
      id: a.id,
      ts: a.ts,
      duplicate: true,
    });

    await sleep(300);
    expect(other.deliveries.filter((m) => m.id === first.id)).toHaveLength(1);
    const stored = await fetch(`${replicas.url(0)}/rooms/idem/messages`).then(json<HistoryPage>);
    expect(stored.messages.map((m) => m.text)).toEqual(['only once', 'x']);
  });

  it('refuses sends over the per-socket limit with an error ack, storing nothing', async () => {
    const sender = await client(2);
    await sender.join('flood');
    const replies = await Promise.all(
      Array.from({ length: 13 }, (_, n) => sender.send('flood', `f${n}`)),
    );
    const ok = replies.filter((r): r is SendReply => 'id' in r);
    const limited = replies.filter((r): r is ErrorReply => 'error' in r);
    expect(ok).toHaveLength(10);
    expect(limited).toHaveLength(3);
    for (const r of limited) expect(r.error.code).toBe('RATE_LIMITED');
    const stored = await fetch(`${replicas.url(0)}/rooms/flood/messages`).then(json<HistoryPage>);
    expect(stored.messages).toHaveLength(10);
    // Another socket of the same user has its own budget.
    const metrics = await fetch(`${replicas.url(2)}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/chat_messages_total\{result="rate_limited"\} 3/);
  });

  it('answers bad input with an error ack naming the problem', async () => {
    const c = await client(0);
    await c.join('valid');
    const cases: Array<[string, unknown, string]> = [
      ['join', { room: 'Not Valid' }, 'INVALID_ROOM'],
      ['join', { room: 'x'.repeat(65) }, 'INVALID_ROOM'],
      ['join', { room: 'valid', lastSeenId: 'zzz' }, 'INVALID_LAST_SEEN_ID'],
      ['join', 'valid', 'INVALID_PAYLOAD'],
      ['message', { room: 'valid', text: '', clientMsgId: 'a' }, 'INVALID_TEXT'],
      ['message', { room: 'valid', text: 'x'.repeat(2001), clientMsgId: 'a' }, 'INVALID_TEXT'],
      ['message', { room: 'valid', text: 'hi' }, 'INVALID_CLIENT_MSG_ID'],
      ['message', { room: 'valid', text: 'hi', clientMsgId: 'a b' }, 'INVALID_CLIENT_MSG_ID'],
      ['message', { room: 'other', text: 'hi', clientMsgId: 'a' }, 'NOT_IN_ROOM'],
      ['message', null, 'INVALID_PAYLOAD'],
    ];
    for (const [event, payload, code] of cases) {
      const reply = await c.request<ErrorReply>(event, payload);
      expect({ event, payload, code: reply.error?.code }).toEqual({ event, payload, code });
    }
    // A payload without an ack callback is ignored without harm.
    c.socket.emit('message', { room: 'valid', text: 'no ack', clientMsgId: 'n1' });
    expect(await c.send('valid', 'still fine')).toHaveProperty('id');
  });

  it('refuses a handshake without identity, with a bad session, or while auth-session is down', async () => {
    const anonymous = new ChatClient([replicas.url(0)]);
    await expect(anonymous.connect()).rejects.toMatchObject({ data: { code: 'UNAUTHENTICATED' } });
    const badName = new ChatClient([replicas.url(0)], { name: '   ' });
    await expect(badName.connect()).rejects.toMatchObject({ data: { code: 'INVALID_NAME' } });
    const badCookie = new ChatClient([replicas.url(1)], { cookie: 'sid=forged' });
    await expect(badCookie.connect()).rejects.toMatchObject({ data: { code: 'UNAUTHENTICATED' } });

    const member = new ChatClient([replicas.url(1)], { cookie: 'sid=ok.42.Ada%20L' });
    clients.push(member);
    await member.connect();
    expect(member.user).toEqual({ id: 'user:42', username: 'Ada L' });

    auth.fail(503);
    try {
      const refused = new ChatClient([replicas.url(2)], { cookie: 'sid=ok.42.Ada' });
      await expect(refused.connect()).rejects.toMatchObject({
        message: expect.stringContaining('auth-session'),
        data: { code: 'AUTH_UNAVAILABLE' },
      });
    } finally {
      auth.fail(undefined);
    }
  });

  it('shows one user for several tabs on several replicas, and drops them only when the last tab leaves', async () => {
    const watcher = await client(0, 'watcher');
    await watcher.join('tabs');
    const tabs = await Promise.all(
      [0, 1, 2].map((i) => {
        const tab = new ChatClient([replicas.url(i)], { name: 'Tabby', guestId: 'tabby-guest-1' });
        clients.push(tab);
        return tab.connect();
      }),
    );
    await Promise.all(tabs.map((t) => t.join('tabs')));
    const names = () => (watcher.presence.get('tabs') ?? []).map((u) => u.username);
    await waitFor('Tabby online once', () => names().join() === 'Tabby,watcher');

    await tabs[0].leave('tabs');
    tabs[1].close();
    await sleep(500);
    expect(names()).toEqual(['Tabby', 'watcher']);
    tabs[2].close();
    await waitFor('Tabby gone', () => names().join() === 'watcher');
  });

  it('serves the chat page and the Socket.IO client script', async () => {
    const page = await fetch(`${replicas.url(0)}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('<script src="/socket.io/socket.io.js">');
    const script = await fetch(`${replicas.url(1)}/socket.io/socket.io.js`);
    expect(script.status).toBe(200);
    // Read every body: an unread response keeps its connection busy and delays close.
    expect(await script.text()).toContain('io');
    expect(await fetch(`${replicas.url(0)}/health/ready`).then((r) => r.status)).toBe(200);
  });

  it('refuses long-polling unless it is enabled, and guests unless they are allowed', async () => {
    const polling = await fetch(`${replicas.url(0)}/socket.io/?EIO=4&transport=polling`);
    expect(polling.status).toBe(400);
    await polling.body?.cancel();

    const strict = await startReplicas(1, () =>
      buildApp(
        testConfig(redis.url, uniquePrefix('chat'), {
          authUrl: auth.url,
          allowGuests: false,
          transports: ['websocket', 'polling'],
        }),
      ),
    );
    try {
      const handshake = await fetch(`${strict.url(0)}/socket.io/?EIO=4&transport=polling`);
      expect(handshake.status).toBe(200);
      expect(await handshake.text()).toContain('"sid"');
      const guest = new ChatClient([strict.url(0)], { name: 'guest' });
      await expect(guest.connect()).rejects.toMatchObject({ data: { code: 'UNAUTHENTICATED' } });
      const anonymousRead = await fetch(`${strict.url(0)}/rooms/general/messages`);
      expect(anonymousRead.status).toBe(401);
      expect(await anonymousRead.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
      const member = new ChatClient([strict.url(0)], { cookie: 'sid=ok.7.Grace' });
      clients.push(member);
      await member.connect();
      expect(member.user).toEqual({ id: 'user:7', username: 'Grace' });
      const read = await fetch(`${strict.url(0)}/rooms/general/messages`, {
        headers: { cookie: 'sid=ok.7.Grace' },
      });
      expect(await read.json()).toEqual({ messages: [], nextBefore: null });
      member.close();
    } finally {
      await strict.close();
    }
  });
});
