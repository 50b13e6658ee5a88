import { randomBytes } from 'node:crypto';
import fp from 'fastify-plugin';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import type { AppConfig } from '../config';
import { createAdapterClients, type AdapterClients } from './adapter-clients';
import {
  failureAck,
  leaveRoom,
  type Ack,
  type ChatContext,
  type ChatIo,
  type ChatSocket,
} from './chat-context';
import { HANDLERS } from './chat-handlers';
import { createChatKeys, type ChatKeys } from './chat-keys';
import { createChatMetrics, type ChatMetrics } from './chat-metrics';
import type { ChatMessage, ChatUser } from './chat-protocol';
import { useHandshake } from './handshake';
import { LocalRooms } from './local-rooms';
import { MessageArchive } from './message-archive';
import { MessageStore } from './message-store';
import { PresenceStore, presenceMember } from './presence';
import { startPresenceHeartbeat } from './presence-heartbeat';
import { ReadCursors } from './read-cursors';
import { RoomMemberships } from './room-memberships';
import { streamIdAt } from './stream-id';
import { SubscriptionWatch } from './subscription-watch';
import { UserLimits } from './user-limits';

export type { ChatIo, ChatSocketData } from './chat-context';

declare module 'fastify' {
  interface FastifyInstance {
    /** The Socket.IO server attached to this instance's HTTP server. */
    io: ChatIo;
    /** The stored messages of every room (also read by the HTTP history route). */
    messages: MessageStore;
  }
}

/** The adapter's two Redis clients (none with the in-memory adapter), logging each new cause once. */
async function adapterClientsOf(
  app: ServiceInstance,
  config: AppConfig,
  metrics: ChatMetrics,
): Promise<AdapterClients | undefined> {
  const options = config.chat;
  if (options.adapter === 'memory') return undefined;
  let lastAdapterError = '';
  return createAdapterClients(
    config.redis,
    (error) => {
      // ioredis reports every failed reconnect; log each new cause once.
      if (error.message !== lastAdapterError) {
        app.log.warn({ err: error }, 'socket.io adapter redis');
      }
      lastAdapterError = error.message;
    },
    {
      commandTimeoutMs: options.adapterCommandTimeoutMs,
      maxPending: options.adapterMaxPending,
      onDrop: () => metrics.dropped.inc(),
    },
  );
}

/** One connected socket: the welcome, the delivery metric, every event handler, the disconnect. */
function onConnection(ctx: ChatState, metrics: ChatMetrics, socket: ChatSocket): void {
  const { app } = ctx;
  metrics.connected.inc();
  socket.emit('welcome', { user: socket.data.user });
  socket.onAnyOutgoing((event: string, payload: ChatMessage) => {
    if (event === 'message' && !ctx.emittingOwn) {
      metrics.delivery.observe((Date.now() - payload.ts) / 1000);
    }
  });
  for (const [event, handler] of Object.entries(HANDLERS)) {
    const handle = handler(ctx, socket);
    socket.on(event, (payload: unknown, ack: unknown) => {
      const reply: Ack = typeof ack === 'function' ? (ack as Ack) : () => {};
      Promise.resolve(handle(payload, reply)).catch((error: unknown) => {
        app.log.error({ err: error, event }, 'socket handler failed');
        reply(failureAck(error));
      });
    });
  }
  socket.on('disconnect', () => {
    metrics.connected.dec();
    // On shutdown preClose has removed this replica's entries in one go.
    if (ctx.closing) return;
    for (const room of ctx.local.names()) {
      if (!ctx.local.holds(room, socket)) continue;
      leaveRoom(ctx, room, socket).catch((error: unknown) =>
        app.log.warn({ err: error, room }, 'disconnect: presence not updated'),
      );
    }
  });
}

/**
 * Whatever other replicas broadcast while this replica's subscription was gone (a Redis
 * restart, a Sentinel switch, a Cluster node that died or stalled) never reached its sockets:
 * once it works again, they re-read from before the gap.
 */
function watchSubscription(
  ctx: ChatState,
  clients: AdapterClients,
  keys: ChatKeys,
): SubscriptionWatch {
  const { app, io, options, local, replicaId } = ctx;
  return new SubscriptionWatch({
    pub: clients.pub,
    sub: clients.sub,
    channel: keys.probeChannel(replicaId),
    intervalMs: options.subscriptionProbeMs,
    onError: (error) => app.log.debug({ err: error }, 'subscription probe failed'),
    onRecovered: (lostSince) => {
      if (ctx.closing) return;
      const since = streamIdAt(lostSince - options.resyncMarginMs);
      for (const room of local.names()) io.local.to(room).emit('resync', { room, since });
      app.log.info({ rooms: local.size, since }, 'subscription recovered: resync sent');
    },
  });
}

/** The replica's shared state: the handlers' context, its id and whether it emits its own. */
type ChatState = ChatContext & { replicaId: string; emittingOwn: boolean };

function createContext(
  app: ServiceInstance,
  config: AppConfig,
  io: ChatIo,
  keys: ChatKeys,
  metrics: ChatMetrics,
): ChatState {
  const options = config.chat;
  const replicaId = randomBytes(6).toString('hex');
  const local = new LocalRooms();
  const state: ChatState = {
    app,
    io,
    options,
    store: new MessageStore(app.redis, keys, {
      maxLen: options.streamMaxLen,
      dedupeTtlSeconds: options.dedupeTtlSeconds,
      resyncMarginMs: options.resyncMarginMs,
      archive: config.database ? new MessageArchive(app.pg) : undefined,
    }),
    presence: new PresenceStore(app.redis, keys, options.presenceTtlMs),
    cursors: new ReadCursors(app.redis, keys),
    memberships: new RoomMemberships(app.redis, keys),
    limits: new UserLimits(app.redis, keys, {
      messageMax: options.rateLimitMax,
      messageWindowMs: options.rateLimitWindowMs,
      roomsPerUser: options.maxRoomsPerUser,
      roomTtlMs: options.presenceTtlMs,
    }),
    local,
    counters: { messages: metrics.messages, refused: metrics.refused },
    replicaId,
    member: (user: ChatUser) => presenceMember(replicaId, user),
    closing: false,
    // Set while this replica broadcasts its own message: local sockets then get it
    // synchronously, and only deliveries that came through Redis count as cross-replica.
    emittingOwn: false,
    emitOwn: (room, event, payload) => {
      state.emittingOwn = true;
      try {
        io.to(room).emit(event, payload);
      } finally {
        state.emittingOwn = false;
      }
    },
    publishPresence: (room, users, everywhere) => {
      local.notePresence(room, users);
      (everywhere ? io.to(room) : io.local.to(room)).emit('presence', { room, users });
    },
  };
  return state;
}

/**
 * Attaches Socket.IO (with the Redis adapter) to the instance's HTTP server and implements the
 * chat protocol: stored-before-broadcast messages, idempotent sends, catch-up by `lastSeenId`,
 * resync after a lost subscription, and presence with expiring entries.
 */
async function registerChat(app: ServiceInstance, config: AppConfig): Promise<void> {
  const options = config.chat;
  const keys = createChatKeys(config.keyPrefix);
  const metrics = createChatMetrics(app);
  const adapterClients = await adapterClientsOf(app, config, metrics);
  const io: ChatIo = new Server(app.server, {
    path: '/socket.io',
    transports: options.transports,
    serveClient: true,
    adapter: adapterClients
      ? createAdapter(adapterClients.pub, adapterClients.sub, { key: keys.adapterChannel })
      : undefined,
  });
  const ctx = createContext(app, config, io, keys, metrics);
  app.decorate('io', io);
  app.decorate('messages', ctx.store);

  useHandshake(io, options);
  io.on('connection', (socket: ChatSocket) => onConnection(ctx, metrics, socket));
  const stopHeartbeat = startPresenceHeartbeat(ctx);
  const watch = adapterClients ? watchSubscription(ctx, adapterClients, keys) : undefined;

  app.addHook('preClose', async () => {
    ctx.closing = true;
    stopHeartbeat();
    watch?.stop();
    // A graceful stop removes this replica's users at once instead of after the TTL.
    await Promise.allSettled(
      ctx.local
        .entries()
        .map(([room, users]) => ctx.presence.update(room, [], users.map(ctx.member))),
    );
    io.local.disconnectSockets(true);
    io.engine.close();
    await io.of('/').adapter.close();
  });
  app.addHook('onClose', async () => adapterClients?.close());
  // Last, so that a failure here still closes everything above through the hooks.
  await watch?.start();
}

/** The name route plugins list in their `dependencies`: they read `app.messages`. */
export const CHAT_PLUGIN = 'chat-realtime-chat';

/** Socket.IO with the chat protocol, decorated as `app.io`, and the stores as `app.messages`. */
export const chatPlugin = fp<{ config: AppConfig }>(
  async (app, { config }) => registerChat(app as unknown as ServiceInstance, config),
  { name: CHAT_PLUGIN, fastify: '5.x', dependencies: ['@redis-patterns/redis'] },
);
