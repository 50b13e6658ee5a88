// What a load remembers of every request it sent: when, which operation, its outcome and latency.
import type { Reply } from '../gateway-client';

export type Op =
  | 'product.read'
  | 'product.write'
  | 'auth.me'
  | 'auth.login'
  | 'auth.logout'
  | 'inventory.reserve'
  | 'leaderboard.score'
  | 'leaderboard.top'
  | 'chat.send';

export interface LoadEvent {
  /** Date.now() when the request was sent. */
  at: number;
  op: Op;
  ok: boolean;
  /** HTTP status, `ack` for a chat ack, or the network error / ack error code. */
  outcome: string;
  ms: number;
}

/** `200`, `503 SESSION_STORE_UNAVAILABLE` (error code of the envelope), or the network error. */
export function outcomeOf(reply: Reply<unknown>): string {
  if (!reply.status) return reply.error ?? 'ERROR';
  const code = (reply.body as { code?: unknown } | undefined)?.code;
  return reply.status >= 400 && typeof code === 'string'
    ? `${reply.status} ${code}`
    : String(reply.status);
}

/** The one list of events every workload of a load appends to. */
export class LoadEvents {
  readonly all: LoadEvent[] = [];

  add(event: LoadEvent): void {
    this.all.push(event);
  }

  /** Records an HTTP request sent at `at`; true when its status is one of `okStatus`. */
  record(op: Op, at: number, reply: Reply<unknown>, okStatus: number[]): boolean {
    const ok = okStatus.includes(reply.status);
    this.add({ at, op, ok, outcome: outcomeOf(reply), ms: reply.ms });
    return ok;
  }
}

/** A setup request that must succeed: its reply, or an error naming what failed. */
export function expectStatus<B>(reply: Reply<B>, status: number, what: string): Reply<B> {
  if (reply.status !== status) {
    throw new Error(
      `${what}: expected ${status}, got ${reply.status || reply.error} ${JSON.stringify(reply.body)}`,
    );
  }
  return reply;
}
