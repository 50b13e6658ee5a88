import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { io as connectClient, type Socket } from 'socket.io-client';
import { defaultChatConfig, type AppConfig, type ChatConfig } from '../src/config';
import type { ChatMessage, ChatUser } from '../src/chat/chat-protocol';
import { compareStreamIds } from '../src/chat/stream-id';

/** Config for in-process replicas: fast presence, quiet logs. */
export function testConfig(
  redisUrl: string,
  keyPrefix: string,
  chat: Partial<ChatConfig> = {},
): AppConfig {
  return {
    logLevel: 'silent',
    redis: { url: redisUrl },
    keyPrefix,
    chat: {
      ...defaultChatConfig,
      presenceHeartbeatMs: 200,
      presenceTtlMs: 1000,
      rateLimitMax: 10,
      rateLimitWindowMs: 1000,
      ...chat,
    },
  };
}

/**
 * The one route of auth-session the chat calls: `GET /auth/me`. A cookie `sid=ok.<id>.<name>`
 * is a valid session; anything else is 401; `fail(503)` makes it answer 503.
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
  const server: Server = createServer((request, response) => {
    state.calls += 1;
    const cookie = request.headers.cookie ?? '';
    const match = /(?:^|;\s*)sid=ok\.([^.;]+)\.([^;]+)/.exec(cookie);
    response.setHeader('content-type', 'application/json');
    if (failure) {
      response.writeHead(failure).end('{"message":"down"}');
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

export interface ConnectOptions {
  name?: string;
  /** Reconnect (to the next URL) after a disconnect. @default true */
  reconnect?: boolean;
  guestId?: string;
  cookie?: string;
}

/** A failed ack. */
export interface ErrorReply {
  error: { code: string; message: string };
}
export interface SendReply {
  id: string;
  ts: number;
  duplicate?: boolean;
}
export interface JoinReply {
  history: ChatMessage[];
  truncated: boolean;
  presence: ChatUser[];
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
  readonly messages = new Map<string, Map<string, ChatMessage>>();
  readonly presence = new Map<string, ChatUser[]>();
  readonly rooms = new Set<string>();
  resyncs = 0;
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
      extraHeaders: this.options.cookie ? { cookie: this.options.cookie } : undefined,
    });
    this.socket = socket;
    socket.on('message', (message: ChatMessage) => {
      this.deliveries.push(message);
      this.receive(message);
    });
    socket.on('presence', ({ room, users }: { room: string; users: ChatUser[] }) =>
      this.presence.set(room, users),
    );
    socket.on('resync', ({ room, since }: { room: string; since: string }) => {
      this.resyncs += 1;
      const last = this.lastSeenId(room);
      void this.join(room, last && compareStreamIds(last, since) < 0 ? last : since).catch(
        () => {},
      );
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
    this.socket.once('connect', () => {
      for (const room of this.rooms) {
        void this.join(room, this.lastSeenId(room)).catch(() => {});
      }
    });
    this.socket.once('connect_error', () => {
      this.socket.close();
      setTimeout(() => this.reconnect(), 200);
    });
  }

  private receive(message: ChatMessage): void {
    let room = this.messages.get(message.room);
    if (!room) this.messages.set(message.room, (room = new Map()));
    room.set(message.id, message);
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

  async join(room: string, lastSeenId?: string): Promise<JoinReply | ErrorReply> {
    this.rooms.add(room);
    const reply = await this.request<JoinReply | ErrorReply>('join', { room, lastSeenId });
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

/** Polls `check` until it returns true, or fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs src/server.ts as its own process (compiled on the fly), for tests that SIGKILL a replica. */
export const SOURCE_SERVER = require.resolve('../src/server.ts');
export const SOURCE_NODE_OPTIONS = '--conditions=@redis-patterns/source -r @swc-node/register';
