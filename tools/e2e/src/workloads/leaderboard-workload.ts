// game-leaderboard's share of the mixed load: increasing scores of 20 players in `best` mode on one
// board, and reads of its top 10. Afterwards every player's stored score must be at least every
// score acknowledged for it.
import type { Op } from './load-events';
import type { VerifyWindow, Workload, WorkloadContext } from './workload';

export interface LeaderboardVerification {
  scoresAcked: number;
  /** Acknowledged after `keepFrom` (or at any time without it) and gone. */
  scoresLost: number;
  /** Acknowledged before `keepFrom` and gone (Redis-only data, emptied by the drill). */
  scoresLostBeforeKeep: number;
}

const PLAYERS = 20;

export class LeaderboardWorkload implements Workload<LeaderboardVerification> {
  readonly ops: readonly Op[] = ['leaderboard.score', 'leaderboard.top'];
  private readonly acks: { playerId: string; score: number; at: number }[] = [];
  private counter = 0;

  /** `board`: the leaderboard's name (the load's hash tag, see `MixedLoad.faultKey`). */
  constructor(
    private readonly context: WorkloadContext,
    private readonly board: string,
  ) {}

  async setup(): Promise<void> {}

  async step(op: Op, turn: number): Promise<void> {
    const at = Date.now();
    const { client, events, timeoutMs } = this.context;
    if (op === 'leaderboard.top') {
      const reply = await client.get(`/api/leaderboards/${this.board}/top?limit=10`, { timeoutMs });
      events.record(op, at, reply, [200]);
      return;
    }
    const playerId = `p${turn % PLAYERS}`;
    const score = (this.counter += 1);
    const reply = await client.post(
      `/api/leaderboards/${this.board}/scores`,
      { playerId, score, mode: 'best' },
      { timeoutMs },
    );
    if (events.record(op, at, reply, [200])) this.acks.push({ playerId, score, at });
  }

  async verify({ keepFrom }: VerifyWindow): Promise<LeaderboardVerification> {
    let scoresLost = 0;
    let scoresLostBeforeKeep = 0;
    const stored = new Map<string, number>();
    for (const playerId of new Set(this.acks.map((a) => a.playerId))) {
      const reply = await this.context.client.get<{ score?: number }>(
        `/api/leaderboards/${this.board}/players/${playerId}`,
      );
      const score = reply.body.score;
      stored.set(playerId, reply.status === 200 && typeof score === 'number' ? score : -1);
    }
    // Best mode: the stored score is at least every acknowledged one.
    for (const ack of this.acks) {
      if ((stored.get(ack.playerId) ?? -1) >= ack.score) continue;
      if (ack.at >= keepFrom) scoresLost += 1;
      else scoresLostBeforeKeep += 1;
    }
    return { scoresAcked: this.acks.length, scoresLost, scoresLostBeforeKeep };
  }
}
