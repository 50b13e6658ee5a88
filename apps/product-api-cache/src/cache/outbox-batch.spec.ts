import { hasGap, planBatch } from './outbox-batch';

describe('planBatch', () => {
  it('does nothing for no rows', () => {
    expect(planBatch([])).toEqual({ kind: 'none' });
  });

  it('evicts the union of the groups and moves the cursor to the last id', () => {
    expect(
      planBatch([
        { id: 4, groups: ['p-1', 'c-books'] },
        { id: 7, groups: ['p-2', 'c-books', 'c-games'] },
      ]),
    ).toEqual({ kind: 'groups', groups: ['p-1', 'c-books', 'p-2', 'c-games'], lastId: 7 });
  });

  it('drops everything when one row says so (a TRUNCATE)', () => {
    expect(
      planBatch([
        { id: 4, groups: ['p-1'] },
        { id: 5, groups: null },
      ]),
    ).toEqual({ kind: 'everything', lastId: 5 });
  });
});

describe('hasGap', () => {
  it('is a gap only when rows past the cursor were pruned', () => {
    expect(hasGap(10, 10)).toBe(false);
    expect(hasGap(10, 3)).toBe(false);
    expect(hasGap(10, 11)).toBe(true);
  });
});
