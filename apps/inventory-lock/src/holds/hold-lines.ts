import { DomainError } from '@redis-patterns/service-kit';

/** One line of an order: units of one sku. */
export interface HoldLine {
  sku: string;
  quantity: number;
}

/** Lines an order may have; more is a 400 naming `lines`. */
export const MAX_LINES = 50;
/** Units one line (and one single-sku reservation) may take. */
export const MAX_QUANTITY = 1000;

/**
 * The lines sorted by sku: the one global order every multi-sku lock is taken in (no two orders
 * can each wait for a sku the other holds), and the canonical form idempotency compares.
 * A sku listed twice is a 400 naming the second line: merging would change what the client
 * asked for, and the lines of one order lock each sku once.
 */
export function sortedLines(lines: readonly HoldLine[]): HoldLine[] {
  const seen = new Map<string, number>();
  lines.forEach((line, index) => {
    const first = seen.get(line.sku);
    if (first !== undefined) {
      throw new DomainError(
        400,
        'VALIDATION_ERROR',
        `body/lines/${index}/sku repeats ${line.sku} of line ${first}; list each sku once`,
      );
    }
    seen.set(line.sku, index);
  });
  return [...lines].sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
}

/** `sku:quantity,…` in sku order: two requests hold the same thing exactly when these match. */
export function linesKey(lines: readonly HoldLine[]): string {
  return sortedLines(lines)
    .map((line) => `${line.sku}:${line.quantity}`)
    .join(',');
}

/** The hold's lifetime in ms: the default when unset, a 400 naming `ttlMs` above the maximum. */
export function holdTtl(
  ttlMs: number | undefined,
  limits: { defaultTtlMs: number; maxTtlMs: number },
) {
  const ttl = ttlMs ?? limits.defaultTtlMs;
  if (ttl > limits.maxTtlMs) {
    throw new DomainError(400, 'VALIDATION_ERROR', `body/ttlMs must be <= ${limits.maxTtlMs}`);
  }
  return ttl;
}
