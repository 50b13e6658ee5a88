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
import { compareStreamIds } from '../src/chat/stream-id';
import {
  ChatClient,
  redisOf,
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

jest.setTimeout(30000);

describe.each(topologiesUnderTest())('chat-realtime on three replicas on %s', (kind) => {
  let topology: RedisTopology;
  let auth: FakeAuth;
  let replicas: Replicas<ServiceInstance>;
  const clients: ChatClient[] = [];

  async function client(i: number, name = `user${clients.length}`): Promise<ChatClient> {
    const c = new ChatClient([replicas.url(i)], { name });
    clients.push(c);
    return c.connect();
  }

  beforeAll(async () => {
    topology = await startTopology(kind);
    auth = await startFakeAuth();
    const prefix = uniquePrefix('chat');
    replicas = await startReplicas(3, () =>
      buildApp(testConfig(redisOf(topology), prefix, { authUrl: auth.url })),
    );
  }, 60000);
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await replicas?.close();
    await auth?.close();
    await topology?.stop();
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
      members.every((c) => ids.every((id) => c.messages.get('lobby')?.has(id))),
    );
    // A fence instead of a pause: a sixth message through the same path, then a round trip on
    // every socket. A copy of the first five, or a stray one to an outsider, that was on its way
    // is in by then; the harness records any such extra delivery as it arrives.
    const fence = (await sender.send('lobby', 'fence')) as SendReply;
    await waitFor('every member to get the fence', () =>
      members.every((c) => c.messages.get('lobby')?.has(fence.id)),
    );
    await Promise.all([...members, ...outsiders].map((c) => c.fence()));
    for (const c of members) {
      expect(c.extraDeliveries).toEqual([]);
      // Order is the ordering test's business (a Cluster may reorder live deliveries).
      expect(c.deliveries.map((m) => m.id).sort(compareStreamIds)).toEqual([...ids, fence.id]);
      expect(c.ordered('lobby').map((m) => m.text)).toEqual([
        ...[0, 1, 2, 3, 4].map((n) => `hello ${n}`),
        'fence',
      ]);
      expect(c.deliveries.find((m) => m.id === ids[0])).toEqual({
        id: ids[0],
        room: 'lobby',
        user: sender.user,
        text: 'hello 0',
        ts: acks[0].ts,
        offset: 1,
        clientMsgId: expect.any(String),
        epoch: expect.stringMatching(/^[0-9a-f]{16}$/),
      });
    }
    for (const c of outsiders) expect(c.deliveries).toEqual([]);

    const metrics = await fetch(`${replicas.url(2)}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/chat_connected_sockets 2/);
    // Replica 3 got the 6 messages through Redis, for its one member.
    expect(metrics).toMatch(/chat_delivery_seconds_count 6/);
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

  it('a member back from a disconnect recovers every missed message by (epoch, offset), once, in order', async () => {
    const sender = await client(0);
    const away = new ChatClient([replicas.url(1), replicas.url(2)], { name: 'away' });
    clients.push(away);
    await away.connect();
    await Promise.all([sender.join('recover'), away.join('recover')]);
    const before = (await sender.send('recover', 'before')) as SendReply;
    await waitFor('the first message', () => away.messages.get('recover')?.has(before.id) === true);
    expect(away.floor('recover')).toBe(1);

    // The client reconnects to the next replica after 100 ms; these are sent meanwhile.
    away.socket.disconnect();
    const missed: SendReply[] = [];
    for (let n = 0; n < 8; n += 1)
      missed.push((await sender.send('recover', `missed ${n}`)) as SendReply);
    await waitFor('the recovery', () => away.recovered > 0 && away.floor('recover') === 9);
    expect(away.unrecovered).toBe(0);
    expect(away.ordered('recover').map((m) => m.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(away.ordered('recover').map((m) => m.id)).toEqual([before, ...missed].map((a) => a.id));
    expect(away.extraDeliveries).toEqual([]);
    // A recovery from an offset the room never reached, or another epoch, is refused whole.
    const wrong = await away.request<JoinReply>('join', {
      room: 'recover',
      epoch: 'nope',
      offset: 3,
    });
    expect(wrong).toMatchObject({ recovered: false });
    expect(wrong.history.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a message stored but never broadcast is recovered by members once a later one shows the hole', async () => {
    const [sender, member] = await Promise.all([client(0), client(2)]);
    await Promise.all([sender.join('hole'), member.join('hole')]);
    await sender.send('hole', 'first');
    await waitFor('the first message', () => member.floor('hole') === 1);
    // What a replica that died between storing and broadcasting leaves behind (or an append
    // answered UNAVAILABLE that Redis ran later): stored, acked to nobody, broadcast to nobody.
    const silent = await replicas.apps[1].messages.append(
      'hole',
      sender.user!,
      'silent',
      'quiet-1',
    );
    const next = (await sender.send('hole', 'next')) as SendReply;
    expect(next.offset).toBe(silent.message.offset + 1);
    await waitFor(
      'the silent message',
      () => member.messages.get('hole')?.has(silent.message.id) === true,
    );
    expect(member.gapRecoveries).toBeGreaterThan(0);
    expect(member.floor('hole')).toBe(next.offset);
    expect(member.extraDeliveries).toEqual([]);
  });

  it('keeps one order: each sender in ack order, every member in stream order', async () => {
    const senders = await Promise.all([0, 1, 2].map((i) => client(i)));
    await Promise.all(senders.map((c) => c.join('order')));
    const acked: string[][] = [[], [], []];
    await Promise.all(
      senders.map(async (c, s) => {
        for (let n = 0; n < 8; n += 1) {
          acked[s].push(((await c.send('order', `s${s}-${n}`)) as SendReply).id);
        }
      }),
    );
    const all = acked.flat();
    await waitFor('every member to have the 24 messages', () =>
      senders.every((c) => all.every((id) => c.messages.get('order')?.has(id))),
    );
    const history = await fetch(`${replicas.url(1)}/rooms/order/messages?limit=100`).then(
      json<HistoryPage>,
    );
    const streamOrder = history.messages.map((m) => m.id);
    expect(streamOrder).toEqual([...all].sort(compareStreamIds));
    for (const ids of acked) expect([...ids].sort(compareStreamIds)).toEqual(ids);
    for (const c of senders) expect(c.ordered('order').map((m) => m.id)).toEqual(streamOrder);

    // Live arrival per sender: one publishing connection into one Redis keeps it; on a Cluster
    // the adapter's publishes enter through one master for that (see pinClusterPublishes).
    let inversions = 0;
    for (const c of senders) {
      for (let s = 0; s < 3; s += 1) {
        const live = c.deliveries.filter((m) => m.text.startsWith(`s${s}-`)).map((m) => m.id);
        for (let i = 1; i < live.length; i += 1) {
          if (compareStreamIds(live[i - 1], live[i]) > 0) inversions += 1;
        }
      }
    }
    process.stderr.write(`[chat-order] ${kind}: ${inversions} live inversions in 72 deliveries\n`);
    expect(inversions).toBe(0);
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
    for (const ack of again)
      expect(ack).toEqual({
        id: first.id,
        ts: first.ts,
        offset: 1,
        epoch: first.epoch,
        duplicate: true,
      });

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
      offset: a.offset,
      epoch: a.epoch,
      duplicate: true,
    });

    const fence = (await sender.send('idem', 'fence')) as SendReply;
    await waitFor('the fence', () => other.messages.get('idem')?.has(fence.id) === true);
    await other.fence();
    expect(other.deliveries.filter((m) => m.id === first.id)).toHaveLength(1);
    expect(other.extraDeliveries).toEqual([]);
    const stored = await fetch(`${replicas.url(0)}/rooms/idem/messages`).then(json<HistoryPage>);
    expect(stored.messages.map((m) => m.text)).toEqual(['only once', 'x', 'fence']);
  });

  it('refuses sends over the per-user limit with an error ack, storing nothing', async () => {
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
      // Redis refuses these ids: the client's mistake, never answered UNAVAILABLE.
      ['join', { room: 'valid', lastSeenId: '18446744073709551616-0' }, 'INVALID_LAST_SEEN_ID'],
      ['join', { room: 'valid', lastSeenId: '1-18446744073709551615' }, 'INVALID_LAST_SEEN_ID'],
      ['join', 'valid', 'INVALID_PAYLOAD'],
      ['join', { room: 'valid', epoch: 'e1' }, 'INVALID_OFFSET'],
      ['join', { room: 'valid', epoch: 'e1', offset: -1 }, 'INVALID_OFFSET'],
      ['join', { room: 'valid', epoch: 'e1', offset: '3' }, 'INVALID_OFFSET'],
      ['join', { room: 'valid', epoch: 'e1', offset: 1.5 }, 'INVALID_OFFSET'],
      ['join', { room: 'valid', offset: 3 }, 'INVALID_EPOCH'],
      ['join', { room: 'valid', epoch: 'a b', offset: 3 }, 'INVALID_EPOCH'],
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
    await waitFor('Tabby online once', () => names().join() === 'Tabby (guest),watcher (guest)');

    await tabs[0].leave('tabs');
    tabs[1].close();
    await sleep(500);
    expect(names()).toEqual(['Tabby (guest)', 'watcher (guest)']);
    tabs[2].close();
    await waitFor('Tabby gone', () => names().join() === 'watcher (guest)');
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
        testConfig(redisOf(topology), uniquePrefix('chat'), {
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
