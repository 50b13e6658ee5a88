import { DomainError } from '@redis-patterns/service-kit';
import { holdTtl, linesKey, sortedLines } from './hold-lines';

describe('hold lines', () => {
  it('sorts by sku, the one global lock order, whatever order the client sent', () => {
    const lines = [
      { sku: 'b', quantity: 1 },
      { sku: 'a', quantity: 2 },
      { sku: 'B', quantity: 3 },
    ];
    expect(sortedLines(lines).map((l) => l.sku)).toEqual(['B', 'a', 'b']);
    expect(lines[0].sku).toBe('b');
  });

  it('gives one key for the same lines in any order, another for other quantities', () => {
    const key = linesKey([
      { sku: 'x', quantity: 1 },
      { sku: 'y', quantity: 2 },
    ]);
    expect(
      linesKey([
        { sku: 'y', quantity: 2 },
        { sku: 'x', quantity: 1 },
      ]),
    ).toBe(key);
    expect(linesKey([{ sku: 'x', quantity: 1 }])).not.toBe(key);
    expect(
      linesKey([
        { sku: 'x', quantity: 1 },
        { sku: 'y', quantity: 3 },
      ]),
    ).not.toBe(key);
  });

  it('refuses a sku listed twice with a 400 naming the line', () => {
    const run = () =>
      sortedLines([
        { sku: 'x', quantity: 1 },
        { sku: 'y', quantity: 1 },
        { sku: 'x', quantity: 2 },
      ]);
    expect(run).toThrow(DomainError);
    expect(run).toThrow(/body\/lines\/2\/sku repeats x of line 0/);
  });

  it('takes the default TTL when unset and refuses one above the maximum', () => {
    const limits = { defaultTtlMs: 600_000, maxTtlMs: 3_600_000 };
    expect(holdTtl(undefined, limits)).toBe(600_000);
    expect(holdTtl(3_600_000, limits)).toBe(3_600_000);
    expect(() => holdTtl(3_600_001, limits)).toThrow(/body\/ttlMs must be <= 3600000/);
  });
});
