import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { RedisClient } from '@redis-patterns/redis-core';
import type { Entry } from './leaderboard-store';
import type { PeriodQuery } from './board-periods';

/** Message on the changes channel that refreshes every board (a display name changed). */
export const EVERY_BOARD = '*';

const HEARTBEAT_MS = 15_000;

export interface TopStreamOptions {
  /** A client used for nothing but SUBSCRIBE (a subscribed connection cannot run commands). */
  subscriber: RedisClient;
  channel: string;
  /** Shortest gap between two reads (and sends) of one board's top 10. */
  intervalMs: number;
  readTop: (board: string, period: PeriodQuery | undefined) => Promise<Entry[]>;
  log: FastifyBaseLogger;
}

interface Group {
  board: string;
  period: PeriodQuery | undefined;
  clients: Set<ServerResponse>;
  last: string;
  lastReadAt: number;
  timer?: NodeJS.Timeout;
}

function event(data: string): string {
  return `event: top\ndata: ${data}\n\n`;
}

/**
 * Server-Sent Events of a board's top 10. Every replica subscribes to one channel on which the
 * submit script announces top-10 changes; a notified replica re-reads the top 10 at most once
 * per `intervalMs` per board and sends it only when it differs from what it sent last.
 */
export class TopStream {
  private readonly groups = new Map<string, Group>();
  private heartbeat?: NodeJS.Timeout;

  constructor(private readonly options: TopStreamOptions) {}

  async start(): Promise<void> {
    this.options.subscriber.on('message', (channel: string, board: string) => {
      if (channel === this.options.channel) this.changed(board);
    });
    await this.options.subscriber.subscribe(this.options.channel);
    this.heartbeat = setInterval(() => {
      for (const group of this.groups.values())
        for (const client of group.clients) client.write(': ping\n\n');
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Adds an SSE client whose headers are sent; `initial` is the top 10 it gets first. */
  add(
    board: string,
    period: PeriodQuery | undefined,
    client: ServerResponse,
    initial: Entry[],
  ): void {
    const id = `${board}\n${period ?? ''}`;
    const data = JSON.stringify({ entries: initial });
    let group = this.groups.get(id);
    if (!group) {
      group = { board, period, clients: new Set(), last: data, lastReadAt: 0 };
      this.groups.set(id, group);
    }
    const joined = group;
    joined.clients.add(client);
    client.write(event(data));
    client.on('close', () => {
      joined.clients.delete(client);
      if (joined.clients.size === 0) {
        clearTimeout(joined.timer);
        this.groups.delete(id);
      }
    });
  }

  private changed(board: string): void {
    for (const group of this.groups.values()) {
      if (group.timer || (board !== EVERY_BOARD && group.board !== board)) continue;
      const delay = Math.max(0, group.lastReadAt + this.options.intervalMs - Date.now());
      group.timer = setTimeout(() => void this.refresh(group), delay);
    }
  }

  private async refresh(group: Group): Promise<void> {
    group.timer = undefined;
    group.lastReadAt = Date.now();
    try {
      const data = JSON.stringify({
        entries: await this.options.readTop(group.board, group.period),
      });
      if (data === group.last) return;
      group.last = data;
      for (const client of group.clients) client.write(event(data));
    } catch (error) {
      // The next announced change reads again; pub/sub is at most once anyway.
      this.options.log.warn({ err: error, board: group.board }, 'cannot refresh top 10');
    }
  }

  /** Ends every stream, so the server can close. */
  close(): void {
    clearInterval(this.heartbeat);
    for (const group of this.groups.values()) {
      clearTimeout(group.timer);
      for (const client of group.clients) client.end();
    }
    this.groups.clear();
  }
}
