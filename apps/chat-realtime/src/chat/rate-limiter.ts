/**
 * A sliding-log limit for one socket: at most `max` events in any `windowMs`. It lives in the
 * process because a socket lives on one replica; nothing is shared, so it costs no Redis call.
 */
export class SlidingWindowLimiter {
  private readonly times: number[] = [];

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Records an event at `now` and returns true, or returns false (nothing recorded) when over. */
  tryTake(now: number): boolean {
    while (this.times.length > 0 && this.times[0] <= now - this.windowMs) this.times.shift();
    if (this.times.length >= this.max) return false;
    this.times.push(now);
    return true;
  }

  /** Milliseconds until the next event would be allowed (0 when allowed now). */
  retryAfterMs(now: number): number {
    if (this.times.length < this.max) return 0;
    return Math.max(0, this.times[0] + this.windowMs - now);
  }
}
