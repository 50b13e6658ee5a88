import {
  startRedis,
  startReplicas,
  uniquePrefix,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { defaultChatConfig, type ChatConfig } from '../src/config';
import { ChatClient, startFakeAuth, testConfig, type FakeAuth } from './chat-harness';

// Who may connect is decided before any room or Redis key is touched: one standalone Redis.
jest.setTimeout(30000);

describe('who may open a chat connection', () => {
  let redis: RedisServer;
  let auth: FakeAuth;
  const started: Replicas<ServiceInstance>[] = [];
  const clients: ChatClient[] = [];

  async function service(chat: Partial<ChatConfig>): Promise<string> {
    const replicas = await startReplicas(1, () =>
      buildApp(
        testConfig({
          redis: { url: redis.url },
          keyPrefix: uniquePrefix('chat'),
          chat: { authUrl: auth.url, ...chat },
        }),
      ),
    );
    started.push(replicas);
    return replicas.url(0);
  }
  function client(url: string, options: ConstructorParameters<typeof ChatClient>[1]) {
    const c = new ChatClient([url], { reconnect: false, ...options });
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    [redis, auth] = await Promise.all([startRedis(), startFakeAuth()]);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    for (const replicas of started) await replicas.close();
    await auth?.close();
    await redis?.stop();
  });

  it('refuses guests by default, and lets a logged-in user in', async () => {
    expect(defaultChatConfig.allowGuests).toBe(false);
    const url = await service({ allowGuests: defaultChatConfig.allowGuests });
    await expect(client(url, { name: 'Ada' }).connect()).rejects.toMatchObject({
      data: { code: 'UNAUTHENTICATED' },
    });
    const member = await client(url, { cookie: 'sid=ok.3.ada' }).connect();
    expect(member.user).toEqual({ id: 'user:3', username: 'ada' });
  });

  it('marks a guest who takes a registered username as a guest, never as that user', async () => {
    const url = await service({ allowGuests: true });
    const alice = await client(url, { cookie: 'sid=ok.1.alice' }).connect();
    const impostor = await client(url, { name: 'alice', guestId: 'user-1-pose' }).connect();
    const spoof = await client(url, { name: 'alice (guest)', guestId: 'user-1-pose2' }).connect();
    expect(alice.user).toEqual({ id: 'user:1', username: 'alice' });
    expect(impostor.user).toEqual({ id: 'guest:user-1-pose', username: 'alice (guest)' });
    expect(spoof.user?.username).toBe('alice (guest) (guest)');
    // What the other members see: the marked name on the message and in presence.
    await alice.join('names');
    await impostor.join('names');
    const ack = (await impostor.send('names', 'it is me, alice')) as { id: string };
    const seen = await new Promise<unknown>((resolve) => {
      const check = () => {
        const message = alice.messages.get('names')?.get(ack.id);
        if (message) resolve(message.user);
        else setTimeout(check, 20);
      };
      check();
    });
    expect(seen).toEqual({ id: 'guest:user-1-pose', username: 'alice (guest)' });
    const reply = (await alice.join('names')) as { presence: { username: string }[] };
    expect(reply.presence.map((u) => u.username).sort()).toEqual(['alice', 'alice (guest)']);
  });

  it('refuses a handshake from a foreign Origin even with a valid session', async () => {
    const url = await service({ allowedOrigins: ['https://chat.example'] });
    const host = new URL(url).host;
    auth.calls = 0;
    const evil = client(url, {
      cookie: 'sid=ok.1.alice',
      headers: { origin: 'http://evil.example' },
    });
    await expect(evil.connect()).rejects.toMatchObject({ data: { code: 'FOREIGN_ORIGIN' } });
    // Refused before the session is looked up.
    expect(auth.calls).toBe(0);
    for (const origin of [`http://${host}`, 'https://chat.example']) {
      const ok = await client(url, { cookie: 'sid=ok.1.alice', headers: { origin } }).connect();
      expect(ok.user?.username).toBe('alice');
    }
    // No Origin at all: not a browser (a native client, a server), as in auth-session.
    expect((await client(url, { cookie: 'sid=ok.1.alice' }).connect()).user?.id).toBe('user:1');
  });

  it('takes the host from X-Forwarded-Host only when the proxy is trusted', async () => {
    const headers = {
      cookie: 'sid=ok.1.alice',
      origin: 'http://gateway.example:3000',
      'x-forwarded-host': 'gateway.example:3000',
    };
    const untrusting = await service({ trustProxy: false });
    await expect(client(untrusting, { headers }).connect()).rejects.toMatchObject({
      data: { code: 'FOREIGN_ORIGIN' },
    });
    const behindGateway = await service({ trustProxy: ['loopback'] });
    expect((await client(behindGateway, { headers }).connect()).user?.id).toBe('user:1');
    const elsewhere = await service({ trustProxy: ['10.0.0.0/8'] });
    await expect(client(elsewhere, { headers }).connect()).rejects.toMatchObject({
      data: { code: 'FOREIGN_ORIGIN' },
    });
  });
});
