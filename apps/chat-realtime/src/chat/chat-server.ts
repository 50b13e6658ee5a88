import { randomBytes } from 'node:crypto';
import { Server, type Socket } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import type { AppConfig } from '../config';
import { createAdapterClients } from './adapter-clients';
import { createChatKeys } from './chat-keys';
import {
  errorAck,
  isErrorAck,
  parseJoin,
  parseRoomRequest,
  parseSend,
  type ChatMessage,
  type ChatUser,
  type ErrorAck,
} from './chat-protocol';
import { IdentityError, resolveIdentity } from './identity';
import { MessageStore } from './message-store';
import { PresenceStore, presenceMember } from './presence';
import { SlidingWindowLimiter } from './rate-limiter';
import { streamIdAt } from './stream-id';

declare module 'fastify' {
  interface FastifyInstance {
    /** The Socket.IO server attached to this instance's HTTP server. */
    io: ChatIo;
    /** The stored messages of every room (also read by the HTTP history route). */
    messages: MessageStore;
  }
}

/** What each connected socket carries. */
export interface ChatSocketData {
  user: ChatUser;
  limiter: SlidingWindowLimiter;
}

// Events are typed `unknown` on purpose: every client payload is validated before use.
type ChatEvents = Record<string, (...args: unknown[]) => void>;
export type ChatIo = Server<ChatEvents, ChatEvents, ChatEvents, ChatSocketData>;
type ChatSocket = Socket<ChatEvents, ChatEvents, ChatEvents, ChatSocketData>;
type Ack = (response: unknown) => void;
type Handler = (payload: unknown, ack: Ack) => Promise<void> | void;

interface LocalUser {
  user: ChatUser;
  sockets: Set<string>;
}

const DELIVERY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

function unavailable(): ErrorAck {
  return errorAck('UNAVAILABLE', 'the message store is unavailable; retry shortly');
}

/**
 * Attaches Socket.IO (with the Redis adapter) to the instance's HTTP server and implements the
 * chat protocol: stored-before-broadcast messages, idempotent sends, catch-up by `lastSeenId`,
 * resync after a lost subscription, and presence with expiring entries.
 */
export async function registerChat(app: ServiceInstance, config: AppConfig): Promise<void> {
  const options = config.chat;
  const keys = createChatKeys(config.keyPrefix);
  const store = new MessageStore(app.redis, keys, {
    maxLen: options.streamMaxLen,
    dedupeTtlSeconds: options.dedupeTtlSeconds,
    resyncMarginMs: options.resyncMarginMs,
  });
  const presence = new PresenceStore(app.redis, keys, options.presenceTtlMs);
  const replicaId = randomBytes(6).toString('hex');

  const connected = app.prom.gauge({
    name: 'chat_connected_sockets',
    help: 'Sockets connected to this replica',
  });
  const messagesTotal = app.prom.counter({
    name: 'chat_messages_total',
    help: 'Message sends by result: stored, duplicate, rate_limited, invalid, unavailable',
    labelNames: ['result'],
  });
  const delivery = app.prom.histogram({
    name: 'chat_delivery_seconds',
    help: 'From storing a message to handing it to a socket on another replica',
    buckets: DELIVERY_BUCKETS,
  });

  let lastAdapterError = '';
  const adapterClients =
    options.adapter === 'memory'
      ? undefined
      : await createAdapterClients(config.redis, (error) => {
          // ioredis reports every failed reconnect; log each new cause once.
          if (error.message !== lastAdapterError) {
            app.log.warn({ err: error }, 'socket.io adapter redis');
          }
          lastAdapterError = error.message;
        });

  const io: ChatIo = new Server(app.server, {
    path: '/socket.io',
    transports: options.transports,
    serveClient: true,
    adapter: adapterClients
      ? createAdapter(adapterClients.pub, adapterClients.sub, { key: keys.adapterChannel })
      : undefined,
  });
  app.decorate('io', io);
  app.decorate('messages', store);

  const local = new Map<string, Map<string, LocalUser>>();
  const lastPresence = new Map<string, string>();
  // Set while this replica broadcasts its own message: local sockets then get it synchronously,
  // and only deliveries that came through Redis count as cross-replica deliveries.
  let emittingLocal = false;
  let closing = false;

  const member = (user: ChatUser) => presenceMember(replicaId, user);

  function addLocal(room: string, socket: ChatSocket): boolean {
    let users = local.get(room);
    if (!users) local.set(room, (users = new Map()));
    const { user } = socket.data;
    const entry = users.get(user.id);
    if (entry) {
      entry.sockets.add(socket.id);
      return false;
    }
    users.set(user.id, { user, sockets: new Set([socket.id]) });
    return true;
  }

  /**
   * The user as entered in presence when this was their last socket in the room on this replica
   * (a guest's tabs may differ in name; the first one's entry is the one to remove).
   */
  function removeLocal(room: string, socket: ChatSocket): ChatUser | undefined {
    const users = local.get(room);
    const entry = users?.get(socket.data.user.id);
    if (!users || !entry || !entry.sockets.delete(socket.id)) return undefined;
    if (entry.sockets.size > 0) return undefined;
    users.delete(socket.data.user.id);
    if (users.size === 0) {
      local.delete(room);
      lastPresence.delete(room);
    }
    return entry.user;
  }

  function publishPresence(room: string, users: ChatUser[], everywhere: boolean): void {
    lastPresence.set(room, JSON.stringify(users));
    (everywhere ? io.to(room) : io.local.to(room)).emit('presence', { room, users });
  }

  async function leaveRoom(room: string, socket: ChatSocket): Promise<void> {
    await socket.leave(room);
    const gone = removeLocal(room, socket);
    if (!gone) return;
    const users = await presence.update(room, [], [member(gone)]);
    if (!closing) publishPresence(room, users, true);
  }

  const handlers: Record<string, (socket: ChatSocket) => Handler> = {
    join: (socket) => async (payload, ack) => {
      const request = parseJoin(payload);
      if (isErrorAck(request)) return ack(request);
      const { room, lastSeenId } = request;
      // Join before reading: a message stored meanwhile is then delivered live or read, never
      // neither (a duplicate is dropped by id on the client).
      const wasMember = socket.rooms.has(room);
      await socket.join(room);
      const fresh = addLocal(room, socket);
      try {
        const [users, catchup] = await Promise.all([
          presence.update(room, [member(socket.data.user)]),
          lastSeenId
            ? store.after(room, lastSeenId, options.catchupLimit)
            : store.latest(room, options.historyLimit).then((messages) => ({
                messages,
                truncated: false,
              })),
        ]);
        ack({ history: catchup.messages, truncated: catchup.truncated, presence: users });
        if (fresh) publishPresence(room, users, true);
      } catch (error) {
        app.log.warn({ err: error, room }, 'join failed');
        if (!wasMember) {
          await socket.leave(room);
          removeLocal(room, socket);
        }
        ack(unavailable());
      }
    },

    leave: (socket) => async (payload, ack) => {
      const request = parseRoomRequest(payload);
      if (isErrorAck(request)) return ack(request);
      try {
        await leaveRoom(request.room, socket);
        ack({ ok: true });
      } catch (error) {
        // The presence entry expires by itself: it is no longer refreshed.
        app.log.warn({ err: error, room: request.room }, 'leave: presence not updated');
        ack({ ok: true });
      }
    },

    message: (socket) => async (payload, ack) => {
      const request = parseSend(payload);
      if (isErrorAck(request)) {
        messagesTotal.inc({ result: 'invalid' });
        return ack(request);
      }
      const { room, text, clientMsgId } = request;
      if (!socket.rooms.has(room)) {
        messagesTotal.inc({ result: 'invalid' });
        return ack(errorAck('NOT_IN_ROOM', `join ${room} before sending to it`));
      }
      const now = Date.now();
      if (!socket.data.limiter.tryTake(now)) {
        messagesTotal.inc({ result: 'rate_limited' });
        const seconds = Math.ceil(socket.data.limiter.retryAfterMs(now) / 1000);
        return ack(errorAck('RATE_LIMITED', `too many messages; retry in ${seconds} s`));
      }
      let stored: { message: ChatMessage; duplicate: boolean };
      try {
        stored = await store.append(room, socket.data.user, text, clientMsgId);
      } catch (error) {
        messagesTotal.inc({ result: 'unavailable' });
        app.log.warn({ err: error, room }, 'message not stored');
        return ack(unavailable());
      }
      const { message, duplicate } = stored;
      if (duplicate) {
        messagesTotal.inc({ result: 'duplicate' });
        // The first attempt may have died between storing and broadcasting: members re-read
        // from just before it instead of getting a second broadcast.
        io.to(room).emit('resync', {
          room,
          since: streamIdAt(message.ts - options.resyncMarginMs),
        });
        return ack({ id: message.id, ts: message.ts, duplicate: true });
      }
      messagesTotal.inc({ result: 'stored' });
      emittingLocal = true;
      try {
        io.to(room).emit('message', message);
      } finally {
        emittingLocal = false;
      }
      ack({ id: message.id, ts: message.ts });
    },

    typing: (socket) => (payload, ack) => {
      const request = parseRoomRequest(payload);
      if (isErrorAck(request)) return ack(request);
      if (socket.rooms.has(request.room)) {
        socket.volatile
          .to(request.room)
          .emit('typing', { room: request.room, user: socket.data.user });
      }
      ack({ ok: true });
    },
  };

  io.use((socket, next) => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    resolveIdentity(
      { cookie: socket.handshake.headers.cookie, guestName: auth.name, guestId: auth.guestId },
      options,
    ).then(
      (user) => {
        socket.data.user = user;
        socket.data.limiter = new SlidingWindowLimiter(
          options.rateLimitMax,
          options.rateLimitWindowMs,
        );
        next();
      },
      (error: unknown) => {
        const refused =
          error instanceof IdentityError
            ? error
            : new IdentityError('AUTH_UNAVAILABLE', 'cannot verify the session');
        const failure = new Error(refused.message) as Error & { data: { code: string } };
        failure.data = { code: refused.code };
        next(failure);
      },
    );
  });

  io.on('connection', (socket: ChatSocket) => {
    connected.inc();
    socket.emit('welcome', { user: socket.data.user });
    socket.onAnyOutgoing((event: string, payload: ChatMessage) => {
      if (event === 'message' && !emittingLocal) delivery.observe((Date.now() - payload.ts) / 1000);
    });
    for (const [event, handler] of Object.entries(handlers)) {
      const handle = handler(socket);
      socket.on(event, (payload: unknown, ack: unknown) => {
        const reply: Ack = typeof ack === 'function' ? (ack as Ack) : () => {};
        Promise.resolve(handle(payload, reply)).catch((error: unknown) => {
          app.log.error({ err: error, event }, 'socket handler failed');
          reply(unavailable());
        });
      });
    }
    socket.on('disconnect', () => {
      connected.dec();
      // On shutdown preClose has removed this replica's entries in one go.
      if (closing) return;
      for (const room of [...local.keys()]) {
        if (!local.get(room)?.get(socket.data.user.id)?.sockets.has(socket.id)) continue;
        leaveRoom(room, socket).catch((error: unknown) =>
          app.log.warn({ err: error, room }, 'disconnect: presence not updated'),
        );
      }
    });
  });

  // Presence heartbeat: refresh this replica's entries and tell local members when the room
  // changed without an event (another replica died and its entries expired).
  let beating = false;
  const heartbeat = setInterval(() => {
    if (beating || closing) return;
    beating = true;
    void Promise.all(
      [...local.entries()].map(async ([room, users]) => {
        const listed = await presence.update(
          room,
          [...users.values()].map((entry) => member(entry.user)),
        );
        if (local.has(room) && lastPresence.get(room) !== JSON.stringify(listed)) {
          publishPresence(room, listed, false);
        }
      }),
    )
      .catch((error: unknown) => app.log.debug({ err: error }, 'presence heartbeat failed'))
      .finally(() => {
        beating = false;
      });
  }, options.presenceHeartbeatMs);
  heartbeat.unref();

  // After the adapter's subscription comes back, whatever other replicas broadcast meanwhile
  // was lost to this replica's sockets: tell them to re-read from before the outage.
  let lostAt: number | undefined;
  const sub = adapterClients?.sub;
  sub?.on('close', () => {
    if (!closing && lostAt === undefined) lostAt = Date.now();
  });
  sub?.on('ready', () => {
    if (lostAt === undefined) return;
    const since = streamIdAt(lostAt - options.resyncMarginMs);
    // The PING is answered after the re-subscription ioredis sends on `ready`.
    setImmediate(() => {
      sub.ping().then(
        () => {
          lostAt = undefined;
          for (const room of local.keys()) io.local.to(room).emit('resync', { room, since });
          app.log.info({ rooms: local.size, since }, 'subscription recovered: resync sent');
        },
        () => {},
      );
    });
  });

  app.addHook('preClose', async () => {
    closing = true;
    clearInterval(heartbeat);
    // A graceful stop removes this replica's users at once instead of after the TTL.
    await Promise.allSettled(
      [...local.entries()].map(([room, users]) =>
        presence.update(
          room,
          [],
          [...users.values()].map((entry) => member(entry.user)),
        ),
      ),
    );
    io.local.disconnectSockets(true);
    io.engine.close();
    await io.of('/').adapter.close();
  });
  app.addHook('onClose', async () => adapterClients?.close());
}
