import CircuitBreaker from 'opossum';

export interface RedisBreakerOptions {
  /** Error percentage over the rolling second that opens the breaker. @default 50 */
  errorThresholdPercentage?: number;
  /** Time the breaker stays open before it lets one trial command through. @default 2000 */
  resetTimeoutMs?: number;
  /** Fewest commands in the rolling second before the percentage counts. @default 3 */
  volumeThreshold?: number;
  /**
   * Failures in a row that open the breaker at once, whatever the percentage: when Redis stalls,
   * the successes of the last second would otherwise keep it closed while every call waits for
   * the command timeout. @default 2
   */
  consecutiveFailures?: number;
}

/**
 * A circuit breaker (opossum) around Redis commands. The command timeout bounds one call; the
 * breaker makes the calls after a few failures cost nothing: while it is open, `run` rejects at
 * once, and every `resetTimeoutMs` one trial call decides whether Redis is back.
 */
export class RedisBreaker {
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  private readonly consecutiveFailures: number;
  private failuresInARow = 0;

  constructor(options: RedisBreakerOptions = {}) {
    this.breaker = new CircuitBreaker((command: () => Promise<unknown>) => command(), {
      // ioredis' own command timeout bounds each call; a second timer here would only race it.
      timeout: false,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      resetTimeout: options.resetTimeoutMs ?? 2000,
      volumeThreshold: options.volumeThreshold ?? 3,
      // A short window: an outage opens the breaker within a second, whatever came before.
      rollingCountTimeout: 1000,
      rollingCountBuckets: 10,
    });
    this.consecutiveFailures = options.consecutiveFailures ?? 2;
  }

  /** Runs a Redis command through the breaker; rejects at once while it is open. */
  async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      const result = (await this.breaker.fire(command)) as T;
      this.failuresInARow = 0;
      return result;
    } catch (error) {
      if (!CircuitBreaker.isOurError(error as Error)) {
        this.failuresInARow += 1;
        if (this.failuresInARow >= this.consecutiveFailures && this.breaker.closed) {
          this.breaker.open();
        }
      }
      throw error;
    }
  }

  /** True while commands are let through normally (not open, not probing). */
  get closed(): boolean {
    return this.breaker.closed;
  }

  /** True while open: Redis judged away and no trial command let through yet. */
  get opened(): boolean {
    return this.breaker.opened;
  }

  /** Called when the breaker opens (Redis judged away). */
  onOpen(listener: () => void): void {
    this.breaker.on('open', listener);
  }

  /** Called when the breaker closes again (a trial command succeeded). */
  onClose(listener: () => void): void {
    this.breaker.on('close', listener);
  }

  shutdown(): void {
    this.breaker.shutdown();
  }
}
