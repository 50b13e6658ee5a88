import { io, type Socket } from 'socket.io-client';

/** A message as chat-realtime sends it. */
export interface ChatMessage {
  id: string;
  room: string;
  user: { id: string; username: string };
  text: string;
  ts: number;
}

export interface ChatAck {
  id?: string;
  ts?: number;
  duplicate?: boolean;
  error?: { code: string; message: string } | string;
  history?: ChatMessage[];
  presence?: unknown;
}

/** Stream ids `<ms>-<seq>` in order. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/**
 * A chat member as the protocol expects one to behave: it rejoins with `lastSeenId` after a
 * reconnect and on `resync`, and drops duplicates by id.
 */
export class ChatMember {
  readonly socket: Socket;
  readonly received = new Map<string, ChatMessage>();
  /** Same message delivered live twice (history overlap is not counted). */
  duplicates = 0;
  /** Times the server disconnected this socket on purpose (no automatic reconnection). */
  serverDisconnects = 0;
  private lastSeenId: string | undefined;
  private everConnected = false;
  private closed = false;
  private readonly rooms = new Set<string>();

  constructor(gatewayUrl: string, name: string) {
    this.socket = io(gatewayUrl, {
      path: '/socket.io',
      transports: ['websocket'],
      auth: { name },
      reconnectionDelay: 100,
      reconnectionDelayMax: 1000,
      timeout: 5000,
    });
    this.socket.on('message', (message: ChatMessage) => {
      if (this.received.has(message.id)) this.duplicates += 1;
      this.record(message);
    });
    this.socket.on('resync', ({ room, since }: { room: string; since: string }) => {
      void this.join(room, since).catch(() => undefined);
    });
    // A server that disconnects a socket on purpose (chat-realtime does on graceful shutdown)
    // turns off socket.io's automatic reconnection: reconnect by hand, as socket.io documents.
    this.socket.on('disconnect', (reason) => {
      if (reason !== 'io server disconnect' || this.closed) return;
      this.serverDisconnects += 1;
      setTimeout(() => {
        if (!this.closed) this.socket.connect();
      }, 100);
    });
    this.socket.on('connect', () => {
      if (!this.everConnected) {
        this.everConnected = true;
        return;
      }
      for (const room of this.rooms) void this.join(room, this.lastSeenId).catch(() => undefined);
    });
  }

  connected(timeoutMs = 10000): Promise<void> {
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('chat connect timed out')), timeoutMs);
      this.socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.once('connect_error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  private record(message: ChatMessage): void {
    this.received.set(message.id, message);
    if (!this.lastSeenId || compareIds(message.id, this.lastSeenId) > 0)
      this.lastSeenId = message.id;
  }

  private emit(event: string, payload: unknown, timeoutMs: number): Promise<ChatAck> {
    return this.socket
      .timeout(timeoutMs)
      .emitWithAck(event, payload)
      .then((ack: ChatAck) => ack);
  }

  async join(room: string, lastSeenId?: string, timeoutMs = 5000): Promise<ChatAck> {
    this.rooms.add(room);
    const ack = await this.emit('join', lastSeenId ? { room, lastSeenId } : { room }, timeoutMs);
    for (const message of ack.history ?? []) this.record(message);
    return ack;
  }

  /** Resolves with the ack, or `{error: 'TIMEOUT'}` when none came in time. */
  send(room: string, text: string, clientMsgId: string, timeoutMs = 5000): Promise<ChatAck> {
    return this.emit('message', { room, text, clientMsgId }, timeoutMs).catch(() => ({
      error: 'TIMEOUT',
    }));
  }

  close(): void {
    this.closed = true;
    this.socket.close();
  }
}
