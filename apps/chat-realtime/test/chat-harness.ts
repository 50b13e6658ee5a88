import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { io as connectClient, type Socket } from 'socket.io-client';
import { Redis } from 'ioredis';
import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
  type RedisConfig,
} from '@redis-patterns/redis-core';
import type { DatabaseConfig, ServiceInstance } from '@redis-patterns/service-kit';
import {
  delay,
  httpCall,
  perFileFixture,
  startReplicas,
  startTopology,
  uniquePrefix,
  type HttpAnswer,
  type RedisServer,
  type RedisTopology,
  type Replicas,
  type TopologyKind,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { defaultChatConfig, type AppConfig, type ChatConfig } from '../src/config';
import type { ChatMessage, ChatUser } from '../src/chat/chat-protocol';
import { compareStreamIds } from '../src/chat/stream-id';

/**
 * The service's Redis config on a test topology. The command timeout (and with it the replica
 * wait, 80% of it) is above the 500 ms default: this machine is shared, and a property test
 * must not read a slow replica as a failure. Fault tests pass the default explicitly.
 */
export function redisOf(topology: RedisTopology, commandTimeoutMs = 1500): RedisConfig {
  return { ...topology.config, commandTimeoutMs };
}

export interface TestConfigOverrides {
  redis: RedisConfig;
  keyPrefix: string;
  /** Over the test defaults below. */
  chat?: Partial<ChatConfig>;
  database?: DatabaseConfig;
}

/** Config for in-process replicas: fast presence and probes, quiet logs. */
export function testConfig({
  redis,
  keyPrefix,
  chat = {},
  database,
}: TestConfigOverrides): AppConfig {
  return {
    logLevel: 'silent',
    redis,
    keyPrefix,
    database,
    chat: {
      ...defaultChatConfig,
      // Most suites talk as guests; the default (off) has tests of its own.
      allowGuests: true,
      presenceHeartbeatMs: 200,
      presenceTtlMs: 1000,
      rateLimitMax: 10,
      rateLimitWindowMs: 1000,
      subscriptionProbeMs: 250,
      ...chat,
    },
  };
}

/** A page of `GET /rooms/:room/messages`. */
export interface HistoryPage {
  messages: ChatMessage[];
  nextBefore: string | null;
}

/** `GET <base>/rooms/<room>/messages<query>`: the answer, its body typed as a history page. */
export function historyPage(
  base: string,
  room: string,
  query = '',
  headers: Record<string, string> = {},
): Promise<HttpAnswer<HistoryPage>> {
  return httpCall<HistoryPage>(base, 'GET', `/rooms/${room}/messages${query}`, { headers });
}

/** Three in-process replicas (by default) on one topology, with a fake auth-session. */
export interface ReplicaSet {
  topology: RedisTopology;
  auth: FakeAuth;
  replicas: Replicas<ServiceInstance>;
  /** A connection of the test's own to the topology (the replicas' config). */
  redis: RedisClient;
  /** Clients made through `client` or `member` (or pushed here): closed after each test. */
  clients: ChatClient[];
  /** A guest connected to replica `i`. */
  client(i: number, name?: string): Promise<ChatClient>;
  /** A logged-in user (the fake auth's `sid=ok.<id>.<name>` cookie) on replica `i`, no reconnect. */
  member(i: number, cookie: string): Promise<ChatClient>;
}

/**
 * One topology of `kind`, a fake auth-session and `count` replicas for a whole test file (or
 * `describe.each` block), stopped even when the boot failed; every client closed after each test.
 */
export function replicaSetFixture(
  kind: TopologyKind,
  chat: Partial<ChatConfig> = {},
  count = 3,
): () => ReplicaSet {
  const clients: ChatClient[] = [];
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  return perFileFixture(
    async (cleanup) => {
      const topology = await startTopology(kind);
      cleanup(() => topology.stop());
      const auth = await startFakeAuth();
      cleanup(() => auth.close());
      const redis = createRedis(redisOf(topology));
      cleanup(() => closeRedis(redis));
      await waitForReady(redis, 5000);
      const keyPrefix = uniquePrefix('chat');
      const replicas = await startReplicas(count, () =>
        buildApp(
          testConfig({ redis: redisOf(topology), keyPrefix, chat: { authUrl: auth.url, ...chat } }),
        ),
      );
      cleanup(() => replicas.close());
      const connect = (c: ChatClient) => {
        clients.push(c);
        return c.connect();
      };
      const set: ReplicaSet = {
        topology,
        auth,
        replicas,
        redis,
        clients,
        client: (i, name = `user${clients.length}`) =>
          connect(new ChatClient([replicas.url(i)], { name })),
        member: (i, cookie) =>
          connect(new ChatClient([replicas.url(i)], { cookie, reconnect: false })),
      };
      return set;
    },
    { timeoutMs: 60000 },
  );
}

/** One admin command on a short-lived connection to one data node. */
export async function adminCommand(server: RedisServer, ...args: string[]): Promise<unknown> {
  const client = new Redis({
    host: server.host,
    port: server.port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    commandTimeout: 2000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call(args[0], ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

/** The replicas of the node that masters `key` (on Sentinel: of the master). */
export async function replicasOf(topology: RedisTopology, key: string): Promise<RedisServer[]> {
  const master = await topology.master(key);
  const found: RedisServer[] = [];
  for (const server of topology.servers) {
    if (server === master) continue;
    const info = String(await adminCommand(server, 'INFO', 'replication'));
    if (/role:slave/.test(info) && new RegExp(`master_port:${master.port}\\b`).test(info)) {
      found.push(server);
    }
  }
  return found;
}

/**
 * The one route of auth-session the chat calls: `GET /auth/me`. A cookie `sid=ok.<id>.<name>`
 * is a valid session; anything else is 401; `fail(503)` makes it answer 503. For the page, also
 * `POST /auth/register` and `/auth/login` (`{username, password}` JSON; login sets that cookie,
 * HttpOnly, as auth-session does) and `POST /auth/logout` (204, cookie cleared).
 */
export interface FakeAuth {
  url: string;
  calls: number;
  fail(status: number | undefined): void;
  close(): Promise<void>;
}

export async function startFakeAuth(): Promise<FakeAuth> {
  let failure: number | undefined;
  const state = { calls: 0 };
  const accounts = new Map<string, { id: number; password: string }>();
  const server: Server = createServer((request, response) => {
    state.calls += 1;
    const cookie = request.headers.cookie ?? '';
    const match = /(?:^|;\s*)sid=ok\.([^.;]+)\.([^;]+)/.exec(cookie);
    response.setHeader('content-type', 'application/json');
    if (failure) {
      response.writeHead(failure).end('{"message":"down"}');
    } else if (request.method === 'POST' && request.url?.startsWith('/auth/')) {
      void accountRoute(request, response, accounts);
    } else if (request.url !== '/auth/me') {
      response.writeHead(404).end('{}');
    } else if (!match) {
      response.writeHead(401).end('{"statusCode":401,"code":"UNAUTHENTICATED"}');
    } else {
      const user = { id: Number(match[1]), username: decodeURIComponent(match[2]) };
      response.writeHead(200).end(JSON.stringify({ user, session: { id: 's' } }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get calls() {
      return state.calls;
    },
    set calls(value: number) {
      state.calls = value;
    },
    fail: (status) => {
      failure = status;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function accountRoute(
  request: IncomingMessage,
  response: ServerResponse,
  accounts: Map<string, { id: number; password: string }>,
): Promise<void> {
  if (request.url === '/auth/logout') {
    response.setHeader('set-cookie', 'sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0');
    response.writeHead(204).end();
    return;
  }
  let body: { username?: unknown; password?: unknown } = {};
  try {
    let text = '';
    for await (const chunk of request) text += String(chunk);
    body = JSON.parse(text) as typeof body;
  } catch {
    // answered 400 below
  }
  const { username, password } = body;
  if (typeof username !== 'string' || typeof password !== 'string') {
    response.writeHead(400).end('{"code":"INVALID_BODY","message":"username and password"}');
    return;
  }
  const known = accounts.get(username.toLowerCase());
  if (request.url === '/auth/register') {
    if (known) {
      response.writeHead(409).end('{"code":"USERNAME_TAKEN","message":"Username is taken"}');
      return;
    }
    const id = accounts.size + 1;
    accounts.set(username.toLowerCase(), { id, password });
    response.writeHead(201).end(JSON.stringify({ id, username }));
  } else if (request.url === '/auth/login') {
    if (!known || known.password !== password) {
      response
        .writeHead(401)
        .end('{"code":"INVALID_CREDENTIALS","message":"Invalid username or password"}');
      return;
    }
    const cookie = `sid=ok.${known.id}.${encodeURIComponent(username)}`;
    response.setHeader('set-cookie', `${cookie}; Path=/; HttpOnly; SameSite=Lax`);
    response.writeHead(200).end(JSON.stringify({ user: { id: known.id, username } }));
  } else {
    response.writeHead(404).end('{}');
  }
}

/**
 * A same-origin front like the gateway: `/api/auth/*` goes to auth (as `/auth/*`), everything
 * else (the page, `/socket.io` and its WebSocket upgrades) to one chat replica, headers as they
 * came (the Host too, so the handshake's Origin check sees what the browser sent).
 */
export interface Front {
  url: string;
  close(): Promise<void>;
}

export async function startFront(chatUrl: string, authUrl: string): Promise<Front> {
  const chat = new URL(chatUrl);
  const auth = new URL(authUrl);
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    const toAuth = path.startsWith('/api/auth/');
    const target = toAuth ? auth : chat;
    const forward = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: toAuth ? path.slice('/api'.length) : path,
        headers: request.headers,
      },
      (upstream) => {
        response.writeHead(upstream.statusCode ?? 502, upstream.headers);
        upstream.pipe(response);
      },
    );
    forward.on('error', () => {
      if (!response.headersSent) response.writeHead(502);
      response.end();
    });
    request.pipe(forward);
  });
  const tunnels = new Set<{ destroy(): void }>();
  server.on('upgrade', (request: IncomingMessage, socket, head: Buffer) => {
    const upstream = netConnect(Number(chat.port), chat.hostname, () => {
      const lines = [`${request.method} ${request.url} HTTP/1.1`];
      for (let i = 0; i < request.rawHeaders.length; i += 2) {
        lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
      }
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket).pipe(upstream);
    });
    tunnels.add(socket).add(upstream);
    const close = () => {
      socket.destroy();
      upstream.destroy();
      tunnels.delete(socket);
      tunnels.delete(upstream);
    };
    upstream.on('error', close).on('close', close);
    socket.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const tunnel of tunnels) tunnel.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ConnectOptions {
  name?: string;
  /** Reconnect (to the next URL) after a disconnect. @default true */
  reconnect?: boolean;
  guestId?: string;
  cookie?: string;
  /** More handshake headers (`origin`, `x-forwarded-host`). @default none */
  headers?: Record<string, string>;
}

/** A failed ack. */
export interface ErrorReply {
  error: { code: string; message: string };
}
export interface SendReply {
  id: string;
  ts: number;
  offset: number;
  epoch: string;
  duplicate?: boolean;
}
export interface JoinReply {
  history: ChatMessage[];
  truncated: boolean;
  presence: ChatUser[];
  /** Absent on a join with `lastSeenId` (the id-based catch-up). */
  epoch?: string;
  offset?: number;
  /** Present on a recovery (a join with epoch and offset). */
  recovered?: boolean;
}

/** How long a hole in a room's numbering may stay open before the client recovers. */
export const GAP_WAIT_MS = 1000;

/** The room numbering a client tracks: it holds every message up to `floor`. */
interface Numbering {
  epoch: string;
  floor: number;
  offsets: Set<number>;
}

/**
 * A chat client as the page behaves: it keeps every message by id (dropping duplicates), re-joins
 * with `lastSeenId` after a reconnect or a `resync`, and counts raw deliveries so tests can tell
 * what the server sent more than once. `urls` are tried in turn, like a load balancer would.
 */
export class ChatClient {
  socket!: Socket;
  user?: ChatUser;
  /** Every live `message` event received, in arrival order (duplicates included). */
  readonly deliveries: ChatMessage[] = [];
  /** Live deliveries of an id this client had already been delivered live: must stay empty. */
  readonly extraDeliveries: ChatMessage[] = [];
  private readonly delivered = new Set<string>();
  readonly messages = new Map<string, Map<string, ChatMessage>>();
  readonly presence = new Map<string, ChatUser[]>();
  readonly rooms = new Set<string>();
  private readonly numbering = new Map<string, Numbering>();
  resyncs = 0;
  /** Recoveries answered `recovered: true` / `false`. */
  recovered = 0;
  unrecovered = 0;
  /** Recoveries started because a hole in the numbering stayed open. */
  gapRecoveries = 0;
  private urlIndex = 0;
  private closed = false;

  constructor(
    private readonly urls: string[],
    private readonly options: ConnectOptions = {},
  ) {}

  /** Connects; rejects with the server's refusal (connect_error) when the handshake fails. */
  async connect(): Promise<this> {
    this.open();
    await new Promise<void>((resolve, reject) => {
      this.socket.once('welcome', ({ user }: { user: ChatUser }) => {
        this.user = user;
        resolve();
      });
      this.socket.once('connect_error', (error: Error & { data?: { code: string } }) => {
        this.socket.close();
        reject(error);
      });
    });
    return this;
  }

  private open(): void {
    const url = this.urls[this.urlIndex % this.urls.length];
    const socket = connectClient(url, {
      path: '/socket.io',
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: { name: this.options.name, guestId: this.options.guestId },
      extraHeaders: {
        ...this.options.headers,
        ...(this.options.cookie ? { cookie: this.options.cookie } : {}),
      },
    });
    this.socket = socket;
    socket.on('message', (message: ChatMessage & { epoch?: string }) => {
      const numbering = this.numbering.get(message.room);
      // A room renumbered (Redis restarted empty): recover, which answers recovered: false.
      if (numbering && message.epoch && message.epoch !== numbering.epoch) {
        void this.rejoin(socket, message.room);
      }
      this.deliveries.push(message);
      if (this.delivered.has(message.id) || !this.rooms.has(message.room)) {
        this.extraDeliveries.push(message);
      }
      this.delivered.add(message.id);
      this.receive(message);
      this.watchGap(socket, message);
    });
    socket.on('presence', ({ room, users }: { room: string; users: ChatUser[] }) =>
      this.presence.set(room, users),
    );
    // Recovery by offset replaces the `since` id: the client knows what it holds.
    socket.on('resync', ({ room }: { room: string }) => {
      this.resyncs += 1;
      void this.rejoin(socket, room);
    });
    socket.on('welcome', ({ user }: { user: ChatUser }) => {
      this.user = user;
    });
    socket.on('disconnect', () => {
      if (!this.closed && this.options.reconnect !== false) setTimeout(() => this.reconnect(), 100);
    });
  }

  /** Like a load balancer sending a new connection elsewhere: next URL, re-join every room. */
  private reconnect(): void {
    if (this.closed) return;
    this.urlIndex += 1;
    this.open();
    const socket = this.socket;
    socket.once('connect', () => {
      for (const room of this.rooms) void this.rejoin(socket, room);
    });
    this.socket.once('connect_error', () => {
      this.socket.close();
      setTimeout(() => this.reconnect(), 200);
    });
  }

  /**
   * Re-joins until the server answers with history (a catch-up that failed, e.g. mid-failover,
   * is retried as the page does), while `socket` is still this client's connection.
   */
  private async rejoin(socket: Socket, room: string) {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      if (this.closed || this.socket !== socket || !socket.connected) return;
      const reply = await this.join(room).catch(() => undefined);
      if (reply && 'history' in reply) return;
      // The page's backoff between two attempts.
      await delay(200);
    }
  }

  /**
   * Resolves after one round trip on this socket: whatever the server wrote to it before (a
   * stray delivery included) has been received by then.
   */
  async fence(): Promise<void> {
    await this.request('typing', { room: 'fence' });
  }

  private receive(message: ChatMessage): void {
    let room = this.messages.get(message.room);
    if (!room) this.messages.set(message.room, (room = new Map()));
    room.set(message.id, message);
    const numbering = this.numbering.get(message.room);
    if (numbering) {
      numbering.offsets.add(message.offset);
      advance(numbering);
    }
  }

  /**
   * A live message past a hole in the numbering: the missing ones may still be on their way from
   * another replica, or were stored and never broadcast (the sender's replica died, or the store
   * answered late). If the hole is still there after `GAP_WAIT_MS`, recover.
   */
  private watchGap(socket: Socket, message: ChatMessage): void {
    const numbering = this.numbering.get(message.room);
    if (!numbering || message.offset <= numbering.floor + 1) return;
    setTimeout(() => {
      const now = this.numbering.get(message.room);
      if (now && now.epoch === numbering.epoch && now.floor < message.offset - 1) {
        this.gapRecoveries += 1;
        void this.rejoin(socket, message.room);
      }
    }, GAP_WAIT_MS);
  }

  /** The offset up to which this client holds every message of the room. */
  floor(room: string): number | undefined {
    return this.numbering.get(room)?.floor;
  }

  lastSeenId(room: string): string | undefined {
    const ids = [...(this.messages.get(room)?.keys() ?? [])];
    return ids.sort(compareStreamIds).at(-1);
  }

  /** The room's messages without duplicates, in id order. */
  ordered(room: string): ChatMessage[] {
    return [...(this.messages.get(room)?.values() ?? [])].sort((a, b) =>
      compareStreamIds(a.id, b.id),
    );
  }

  request<T>(event: string, payload: unknown, timeoutMs = 5000): Promise<T> {
    return this.socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<T>;
  }

  /**
   * Joins as the page does: with `lastSeenId` the id-based catch-up; otherwise a recovery from
   * the offset this client holds everything up to when it knows the room's epoch, else a fresh
   * join. After `recovered: false` (or a fresh join) it counts from the history it got.
   */
  async join(room: string, lastSeenId?: string): Promise<JoinReply | ErrorReply> {
    this.rooms.add(room);
    const known = this.numbering.get(room);
    const since = !lastSeenId && known ? { epoch: known.epoch, offset: known.floor } : {};
    const reply = await this.request<JoinReply | ErrorReply>('join', {
      room,
      lastSeenId,
      ...since,
    });
    if ('history' in reply && reply.epoch !== undefined && reply.offset !== undefined) {
      if (reply.recovered === true) this.recovered += 1;
      if (reply.recovered === false) this.unrecovered += 1;
      const current = this.numbering.get(room);
      if (reply.recovered !== true || !current || current.epoch !== reply.epoch) {
        const first = reply.history[0];
        const offsets = new Set<number>();
        // Live messages of this epoch that came in while the join was on its way still count.
        for (const m of this.messages.get(room)?.values() ?? []) {
          if ((m as { epoch?: string }).epoch === reply.epoch) offsets.add(m.offset);
        }
        this.numbering.set(room, {
          epoch: reply.epoch,
          floor: first ? first.offset - 1 : reply.offset,
          offsets,
        });
      }
    }
    if ('history' in reply) for (const message of reply.history) this.receive(message);
    if ('presence' in reply) this.presence.set(room, reply.presence);
    return reply;
  }

  async leave(room: string): Promise<unknown> {
    this.rooms.delete(room);
    return this.request('leave', { room });
  }

  send(room: string, text: string, clientMsgId = `m-${Math.random().toString(36).slice(2)}`) {
    return this.request<SendReply | ErrorReply>('message', { room, text, clientMsgId });
  }

  close(): void {
    this.closed = true;
    this.socket?.close();
  }
}

function advance(numbering: Numbering): void {
  while (numbering.offsets.has(numbering.floor + 1)) {
    numbering.floor += 1;
    numbering.offsets.delete(numbering.floor);
  }
  for (const offset of numbering.offsets)
    if (offset <= numbering.floor) numbering.offsets.delete(offset);
}

/** Runs src/server.ts as its own process (compiled on the fly), for tests that SIGKILL a replica. */
export const SOURCE_SERVER = require.resolve('../src/server.ts');
export const SOURCE_NODE_OPTIONS = '--conditions=@redis-patterns/source -r @swc-node/register';
