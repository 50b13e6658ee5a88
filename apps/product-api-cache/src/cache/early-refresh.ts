/**
 * XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede Prevention",
 * VLDB 2015): a reader treats its entry as due `gap` ms before the soft TTL, with
 * `gap = -delta × beta × ln(u)`, u uniform in (0, 1]: the chance grows exponentially as expiry
 * nears, scaled by `delta`, how long a refresh takes. Under load one reader refreshes a hot key
 * shortly before it expires, and nobody sees it stale or missing.
 */
export function earlyRefreshGap(
  deltaMs: number,
  beta: number,
  random: () => number = Math.random,
): number {
  if (beta <= 0 || deltaMs <= 0) return 0;
  // 1 - random() is in (0, 1]: ln never sees 0.
  return Math.max(0, -deltaMs * beta * Math.log(1 - random()));
}

/** What the cache assumes a load costs before it measured one, in ms. */
export const INITIAL_LOAD_MS = 10;

/** Exponentially weighted moving average of load durations: XFetch's `delta` on this replica. */
export class LoadTimer {
  private average = INITIAL_LOAD_MS;

  constructor(private readonly weight = 0.1) {}

  get deltaMs(): number {
    return this.average;
  }

  observe(ms: number): void {
    if (Number.isFinite(ms) && ms >= 0) this.average += this.weight * (ms - this.average);
  }
}
