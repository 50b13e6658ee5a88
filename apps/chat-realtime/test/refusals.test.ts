import {
  httpCall,
  startReplicas,
  topologiesUnderTest,
  uniquePrefix,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import {
  ChatClient,
  historyPage,
  redisOf,
  replicaSetFixture,
  testConfig,
  type ErrorReply,
  type SendReply,
} from './chat-harness';

// A refusal names its reason and changes nothing: bad payloads, handshakes without a valid
// identity, sends over the per-user limit, a transport or guests that are not enabled.

jest.setTimeout(30000);

describe.each(topologiesUnderTest())('refusals on three replicas on %s', (kind) => {
  const set = replicaSetFixture(kind);
  const client = (i: number, name?: string) => set().client(i, name);

  it('refuses sends over the per-user limit with an error ack, storing nothing', async () => {
    const { replicas } = set();
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
    const stored = (await historyPage(replicas.url(0), 'flood')).body;
    expect(stored.messages).toHaveLength(10);
    const metrics = (await httpCall(replicas.url(2), 'GET', '/metrics')).text;
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
    const { auth, replicas, clients } = set();
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

  it('refuses long-polling unless it is enabled, and guests unless they are allowed', async () => {
    const { topology, auth, replicas, clients } = set();
    const polling = await httpCall(replicas.url(0), 'GET', '/socket.io/?EIO=4&transport=polling');
    expect(polling.status).toBe(400);

    const strict = await startReplicas(1, () =>
      buildApp(
        testConfig({
          redis: redisOf(topology),
          keyPrefix: uniquePrefix('chat'),
          chat: {
            authUrl: auth.url,
            allowGuests: false,
            transports: ['websocket', 'polling'],
          },
        }),
      ),
    );
    try {
      const handshake = await httpCall(strict.url(0), 'GET', '/socket.io/?EIO=4&transport=polling');
      expect(handshake.status).toBe(200);
      expect(handshake.text).toContain('"sid"');
      const guest = new ChatClient([strict.url(0)], { name: 'guest' });
      await expect(guest.connect()).rejects.toMatchObject({ data: { code: 'UNAUTHENTICATED' } });
      const anonymousRead = await historyPage(strict.url(0), 'general');
      expect(anonymousRead.status).toBe(401);
      expect(anonymousRead.body).toMatchObject({ code: 'UNAUTHENTICATED' });
      const member = new ChatClient([strict.url(0)], { cookie: 'sid=ok.7.Grace' });
      clients.push(member);
      await member.connect();
      expect(member.user).toEqual({ id: 'user:7', username: 'Grace' });
      const read = await historyPage(strict.url(0), 'general', '', { cookie: 'sid=ok.7.Grace' });
      expect(read.body).toEqual({ messages: [], nextBefore: null });
      member.close();
    } finally {
      await strict.close();
    }
  });
});
