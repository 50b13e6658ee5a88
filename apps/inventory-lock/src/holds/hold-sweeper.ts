import type { FastifyBaseLogger } from 'fastify';
import type { HoldService } from './hold-service';
import type { HoldStore } from './hold-store';

/** Holds expired per sweep at most; the next sweep takes the rest. */
const SWEEP_BATCH = 200;

/**
 * Every replica sweeps: it looks for held holds past their expiry in PostgreSQL and expires each
 * (a conditional update, so when two replicas find the same hold one returns its stock and the
 * other changes nothing). The first sweep runs at start, so a replica that starts after every
 * replica was down across an expiry returns that stock at once.
 */
export class HoldSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(
    private readonly store: HoldStore,
    private readonly holds: HoldService,
    private readonly clock: () => number,
    private readonly intervalMs: number,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    this.stopped = false;
    const tick = () => {
      void this.sweep().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One sweep (never two at once in a replica); answers how many holds this replica expired. */
  sweep(): Promise<number> {
    this.running ??= this.sweepOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async sweepOnce(): Promise<number> {
    let expired = 0;
    try {
      const due = await this.store.dueHolds(new Date(this.clock()), SWEEP_BATCH);
      for (const orderId of due) {
        if (this.stopped) break;
        if (await this.holds.expire(orderId)) expired += 1;
      }
      if (expired) this.log.info({ expired }, 'expired holds returned their stock');
    } catch (error) {
      // PostgreSQL away: the holds stay due and the next sweep (here or elsewhere) takes them.
      this.log.warn({ err: error }, 'hold sweep failed; retried at the next interval');
    }
    return expired;
  }
}
